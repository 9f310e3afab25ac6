"""Billing (SPEC S5), one module per concern: invoice run, manual invoices, notices, cutoffs, payments,
promises, extras, reports, delivery (e-mail, PDF) and the run log.

Every operation is callable from the admin API, the scheduled Lambda functions, the local stack's
scheduler and tests alike. The scheduled runs are safe to repeat: invoices have a deterministic id per
client and period, notices and cutoffs set once-only markers, payments carry an idempotency key.

Clients in status Free or Cancelled are never invoiced, notified or cut off automatically (S3/S4).
"""
