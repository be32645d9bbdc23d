"""Serve the MongoDB wire protocol on 127.0.0.1 with mongoeco (needs Python >= 3.13).

Stands in for a MongoDB server in the cluster tests: pymongo, maggma's MongoStore and
the jobflow-remote runner talk to it over TCP exactly as to ``mongod``.

    python3.13 tests/mongo_wire_server.py --port 27117 --db-path /tmp/wire.sqlite

Prints ``ready mongodb://HOST:PORT`` once it accepts connections; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from mongoeco.engines.memory import MemoryEngine
from mongoeco.engines.sqlite import SQLiteEngine
from mongoeco.wire.proxy import AsyncMongoEcoProxyServer


async def serve(host: str, port: int, db_path: str | None) -> None:
    engine = SQLiteEngine(db_path) if db_path else MemoryEngine()
    proxy = AsyncMongoEcoProxyServer(engine=engine, host=host, port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await proxy.start()
    address = proxy.address
    print(f"ready mongodb://{address.host}:{address.port}", flush=True)
    try:
        await stop.wait()
    finally:
        await proxy.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=27117)
    parser.add_argument("--db-path", default=None, help="SQLite file (default: in memory)")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.db_path))


if __name__ == "__main__":
    main()
