"""Request and response models of the admin API (the OpenAPI document is generated from them)."""
