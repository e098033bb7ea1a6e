"""Time from a job's submission to its entrypoint running, through Ray's JobSubmissionClient, on
whichever head ADDRESS points at (swift-ray's or Ray's): the entrypoint prints the wall clock in
nanoseconds; the latency is that minus the time just before submit_job.

  python jobs_latency.py http://127.0.0.1:8265 [label] [jobs]
"""
import statistics
import sys
import time

from ray.job_submission import JobStatus, JobSubmissionClient

address = sys.argv[1]
label = sys.argv[2] if len(sys.argv) > 2 else address
count = int(sys.argv[3]) if len(sys.argv) > 3 else 10
client = JobSubmissionClient(address)
latencies, totals = [], []
for _ in range(count):
    before = time.time_ns()
    job = client.submit_job(entrypoint="date +%s%N")
    while client.get_job_status(job) not in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):
        time.sleep(0.005)
    done = time.time_ns()
    started = int(next(line for line in reversed(client.get_job_logs(job).splitlines()) if line.strip().isdigit()))
    latencies.append((started - before) / 1e6)
    totals.append((done - before) / 1e6)
print(f"RESULT {label}: submit to entrypoint running median {statistics.median(latencies):.1f} ms "
      f"(min {min(latencies):.1f}), submit to SUCCEEDED seen median {statistics.median(totals):.1f} ms, {count} jobs", flush=True)
