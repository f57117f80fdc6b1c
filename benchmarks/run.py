"""`make bench`: every benchmark in turn, then docs/performance.md. The ingest benchmark needs root."""

import os
import sys

from benchmarks import audit_sink, audit_timing, plan_scaling, plan_timing, report

if __name__ == "__main__":
    plan_timing.main()
    plan_scaling.main()
    audit_timing.main()
    audit_sink.main()
    if os.geteuid() == 0:
        from benchmarks import (
            api_path,
            dicom_edge,
            index_path,
            ingest,
            ingest_path,
            query,
            rehearsal_boot,
            scale,
            stack_profile,
            viewer_load,
        )

        sys.argv = [sys.argv[0]]
        ingest.main()
        stack_profile.main()
        index_path.main()
        ingest_path.main([])
        query.main()
        api_path.main()
        viewer_load.main()
        scale.main()
        dicom_edge.main()
        rehearsal_boot.main()
    else:
        print("ingest benchmark skipped: it needs root (network namespaces and the local stack)")
    report.main()
