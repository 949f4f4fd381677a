"""The command line of one benchmark: `python -m bench.<name> [--size full|tiny] [--design ...]`."""
import argparse
import logging

from bench.harness import emit


def main(run, designs: bool = False) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=("full", "tiny"), default="full",
                        help="tiny: the smallest run that still exercises every path (tests/bench)")
    if designs:
        parser.add_argument("--design", choices=("query", "scan"), default="query",
                            help="scan: find a room's connections by Scanning the table (for comparison)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    kwargs = {"size": args.size}
    if designs:
        kwargs["design"] = args.design
    result = run(**kwargs)
    result["ok"] = all(entry["ok"] for entry in result.get("targets", []))
    emit(result)
