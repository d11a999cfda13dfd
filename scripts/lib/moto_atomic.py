"""moto_server with DynamoDB's write atomicity.

DynamoDB applies a conditional write (PutItem with a ConditionExpression, TransactWriteItems)
atomically: of ten concurrent "update if version = 2", exactly one succeeds. moto_server answers
requests on many threads and its DynamoDB backend takes no lock, so two such writes can both pass
their condition. This runs moto's own WSGI application (as `moto_server` does) with one lock
around DynamoDB requests only, so the emulator keeps the guarantee our exactly-once code and its
contract tests rely on. SQS requests (long polls included) stay concurrent.

    python moto_atomic.py -H 127.0.0.1 -p PORT
"""

import argparse
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler
from werkzeug.serving import run_simple

parser = argparse.ArgumentParser()
parser.add_argument("-H", "--host", default="127.0.0.1")
parser.add_argument("-p", "--port", type=int, default=5000)
args = parser.parse_args()

moto = DomainDispatcherApplication(create_backend_app)
dynamodb = threading.Lock()


def app(environ, start_response):
    if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
        return moto(environ, start_response)
    with dynamodb:
        # The whole answer is produced inside the lock.
        response = moto(environ, start_response)
        try:
            return [b"".join(response)]
        finally:
            close = getattr(response, "close", None)
            if close:
                close()


run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
