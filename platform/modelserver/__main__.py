"""Command line: ``python -m modelserver --config_path model_repository/config.json --port 9000``.

Flag names mirror OVMS (``--config_path``, ``--port``, ``--bind_address``, ``--grpc_max_threads``,
``--log_level``; single-model mode with ``--model_name``/``--model_path``). SIGTERM/SIGINT stop the server
gracefully: no new RPCs, in-flight ones get ``--shutdown_grace_s`` seconds.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from modelserver.config import ConfigError, ModelConfig, load_config
from modelserver.server import DEFAULT_MAX_MESSAGE_BYTES, serve


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="modelserver", description="Local OpenVINO Model Server stand-in (gRPC).")
    p.add_argument("--config_path", type=Path, help="OVMS config.json")
    p.add_argument("--model_name", help="single-model mode: model name (with --model_path)")
    p.add_argument("--model_path", type=Path, help="single-model mode: directory with version subdirectories")
    p.add_argument("--target_device", default="CPU")
    p.add_argument("--port", type=int, default=9000, help="gRPC port (0 = pick a free port)")
    p.add_argument("--bind_address", default="0.0.0.0")
    p.add_argument("--grpc_max_threads", type=int, default=None, help="gRPC worker threads")
    p.add_argument("--grpc_max_message_bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES)
    p.add_argument("--shutdown_grace_s", type=float, default=10.0)
    p.add_argument("--require_model_cards", type=lambda v: v.lower() in ("1", "true", "yes", "on"), default=True,
                   metavar="true|false", help="refuse versions without model_card.json (default true); a version "
                   "whose files do not match its card is always refused")
    p.add_argument("--log_level", default="INFO", choices=["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"])
    args = p.parse_args(argv)
    if bool(args.config_path) == bool(args.model_name or args.model_path):
        p.error("use either --config_path or --model_name with --model_path")
    if args.model_name and not args.model_path or args.model_path and not args.model_name:
        p.error("--model_name and --model_path go together")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    level = "DEBUG" if args.log_level == "TRACE" else args.log_level
    logging.basicConfig(level=level, format="[%(asctime)s][%(levelname)s][%(name)s] %(message)s")
    try:
        if args.config_path:
            models = load_config(args.config_path)
        else:
            models = [ModelConfig(args.model_name, args.model_path.resolve(), target_device=args.target_device)]
        handle = serve(models=models, port=args.port, bind_address=args.bind_address,
                       max_message_bytes=args.grpc_max_message_bytes, max_workers=args.grpc_max_threads,
                       require_model_cards=args.require_model_cards)
    except (ConfigError, RuntimeError) as exc:
        logging.getLogger("modelserver").error("%s", exc)
        return 1

    stop_requested = threading.Event()

    def _on_signal(signum, _frame):
        logging.getLogger("modelserver").info("received %s, shutting down", signal.Signals(signum).name)
        stop_requested.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    # Wake periodically so signals are handled promptly in the main thread.
    while not stop_requested.wait(0.5):
        pass
    handle.stop(args.shutdown_grace_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
