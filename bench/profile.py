"""Summarize a py-spy profile (``--format raw``: collapsed stacks) of the operator.

    .venv/bin/python -m bench.profile PROFILE.txt [--top N] [--focus TEXT]

Prints the functions with the most samples, inclusive (the function or anything
it calls was on the CPU) and self (the function itself), as shares of all samples.
``python -m bench --profile DIR`` records one during the burst (py-spy from PyPI).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

# "ThreadPoolExecutor-0_0;frame;frame ... N", each frame "function (file:line)".
_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_LINE_NUMBER = re.compile(r":\d+\)$")


def _frames(stack: str) -> list[str]:
    frames = stack.split(";")
    if frames and frames[0].startswith(("thread ", "process ")):
        frames = frames[1:]
    # One entry per function: the line number would split it into many.
    return [_LINE_NUMBER.sub(")", frame) for frame in frames]


def summarize(path: Path, *, top: int = 25, focus: str = "") -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        count = int(match["count"])
        stack = match["stack"]
        frames = _frames(stack)
        if focus and not any(focus in frame for frame in frames):
            continue
        total += count
        thread = stack.split(";", 1)[0]
        threads["handler threads" if "ThreadPoolExecutor" in stack else thread] += count
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            own[frames[-1]] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples" + (f" with {focus!r} on the stack" if focus else "")]
    lines.append("\nby thread:")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in threads.most_common(8)]
    lines.append(f"\ninclusive (top {top}):")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    lines.append(f"\nself (top {top}):")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--focus", default="", help="only stacks with a frame containing this")
    args = parser.parse_args(argv)
    print(summarize(args.profile, top=args.top, focus=args.focus))
    return 0


if __name__ == "__main__":
    sys.exit(main())
