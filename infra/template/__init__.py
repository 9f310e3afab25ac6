"""The SAM template (``template.yaml``) generated from the code: ``python -m infra.template``."""
