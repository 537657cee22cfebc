"""moto's server, single-threaded.

`python -m moto.server` handles requests on several threads, and its DynamoDB
TransactWriteItems is not isolated between them (a cancelled transaction restores a
snapshot that can undo a concurrent write). Real DynamoDB is isolated; serving one request
at a time gives the tests that same guarantee, so races are the adapter's, not moto's.

Usage: python scripts/moto_server.py HOST PORT
"""

import os
import sys

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

host, port = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("MOTO_PORT", str(port))
run_simple(host, port, DomainDispatcherApplication(create_backend_app), threaded=False, use_reloader=False)
