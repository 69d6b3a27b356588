"""Reads a TensorBoard run directory with TensorBoard's own reader and prints what it found.

    python3 tests/tensorboard_read.py RUN_DIR

Prints one JSON object: the file version the reader parsed, every scalar of every tag as
[step, value], and every histogram of every tag with its fields. Each float is given as the
64 bits of the double the reader holds (an integer), so NaN, infinities and the last bit of
every value reach the test exactly. Used by tests/tensorboard.rs.
"""

import json
import struct
import sys

from tensorboard.backend.event_processing import event_accumulator as ea


def bits(v):
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def histogram(event):
    h = event.histogram_value
    return {
        "step": event.step,
        "min": bits(h.min),
        "max": bits(h.max),
        "num": bits(h.num),
        "sum": bits(h.sum),
        "sum_squares": bits(h.sum_squares),
        "bucket_limit": [bits(v) for v in h.bucket_limit],
        "bucket": [bits(v) for v in h.bucket],
    }


def main(run_dir):
    # 0: keep every event (the default keeps a sample of at most 10,000 scalars).
    keep_all = {ea.SCALARS: 0, ea.HISTOGRAMS: 0}
    acc = ea.EventAccumulator(run_dir, size_guidance=keep_all)
    acc.Reload()
    tags = acc.Tags()
    out = {
        "file_version": acc.file_version,
        "scalars": {t: [[e.step, bits(e.value)] for e in acc.Scalars(t)] for t in tags["scalars"]},
        "histograms": {t: [histogram(e) for e in acc.Histograms(t)] for t in tags["histograms"]},
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
