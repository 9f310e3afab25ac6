import sys

from infra.template.build import main

raise SystemExit(main(sys.argv[1:]))
