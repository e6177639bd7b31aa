"""The run engine: executor, queue, live event streams, cancel signals, scheduler, worker."""
