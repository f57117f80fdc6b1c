"""`make bench`: every benchmark in turn."""

from benchmarks import plan_timing

if __name__ == "__main__":
    plan_timing.main()
