"""Jobs run by the jobs worker (ISP scale: work over more than a page of subscribers).

A request starts a job (``export``: the subscriber list as a CSV file; ``bulk``: a lifecycle action on
a list of subscribers or on every subscriber a filter matches) and answers 202 with it at once; the
work runs from the jobs queue (``queue``) in the worker (``runner``), a page at a time, with the
progress and a checkpoint on the job after every page. A run that reaches its time budget sends the
job's message again and the next run continues from the checkpoint. The file is written to S3 as it
goes (``upload``) and the finished job links it (``views``: a short-lived download URL).
"""
