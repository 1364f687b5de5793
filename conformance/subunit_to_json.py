#!/usr/bin/python3
"""Tempest's subunit v2 stream (stdin) as JSON lines (stdout), one per test.

The conformance playbook copies this to the Tempest host and runs it on
`stestr last --subunit`: python3-subunit and python3-testtools are Tempest's
own dependencies there. Each line: {"id", "status", "reason", "seconds"};
status is subunit's (success, fail, skip, xfail, uxsuccess, ...), reason the
skip reason or the end of the traceback.
"""
import json
import sys

import subunit
import testtools

# The end of a traceback names the assertion; the whole of it stays in Tempest's own log.
REASON_CHARS = 1500


def emit(test):
    details = test["details"]
    reason = ""
    for key in ("reason", "traceback"):
        if key in details:
            reason = details[key].as_text().strip()[-REASON_CHARS:]
            break
    start, stop = test["timestamps"]
    seconds = round((stop - start).total_seconds(), 1) if start and stop else None
    print(json.dumps({"id": test["id"], "status": test["status"], "reason": reason, "seconds": seconds}))


def main():
    stream = subunit.ByteStreamToStreamResult(sys.stdin.buffer, non_subunit_name="stdout")
    result = testtools.StreamToDict(emit)
    result.startTestRun()
    try:
        stream.run(result)
    finally:
        result.stopTestRun()


if __name__ == "__main__":
    main()
