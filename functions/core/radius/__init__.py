"""RADIUS domain rules: credentials, product-policy evaluation, quota periods and accounting.

Pure code (no I/O): the RADIUS service (``radius_container``) and the domain operations in
``services`` feed it views of the stored records and act on its decisions.
"""

from pathlib import Path

# The RADIUS dictionary (RFC attributes + Microsoft, MikroTik, WISPr vendors), shared by the RADIUS
# service and the Disconnect/CoA sender so both encode attributes the same way.
DICTIONARY_PATH = str(Path(__file__).with_name("dictionary") / "dictionary")
