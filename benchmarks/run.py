"""`make bench`: every benchmark in turn."""

from benchmarks import audit_timing, plan_timing

if __name__ == "__main__":
    plan_timing.main()
    audit_timing.main()
