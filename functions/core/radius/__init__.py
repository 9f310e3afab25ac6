"""RADIUS domain rules: credentials, product-policy evaluation, quota periods and accounting.

Pure code (no I/O): the RADIUS service (``radius_container``) and the domain operations in
``services`` feed it views of the stored records and act on its decisions.
"""
