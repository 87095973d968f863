"""Command-line client for a running topic service.

    python -m client classify article.txt            # a readable table
    python -m client classify - --json < article.txt
    python -m client batch in.jsonl out.jsonl         # stream a large file, resumable

``batch`` reads JSON Lines (``text``, optional ``title`` and ``id``), sends
them through /v1/classify/batch, retries with backoff on 429, 503 and
connection errors, and appends one result line per input line to OUT. Run it
again after an interruption and it resumes after the last complete line.
An article the server rejects gets an ``error`` line and the rest go on.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from pathlib import Path
from typing import Iterator, Sequence

import httpx
from tqdm import tqdm

RETRY_STATUSES = {429, 502, 503, 504}
FIELD_INDEX = re.compile(r"^articles\[(\d+)\]")


class ClientError(Exception):
    """The server refused the request for a reason retrying will not fix, or could not be reached."""


class Client:
    """An HTTP client of the service: one keep-alive connection pool, retries with backoff.

    httpx does the HTTP (connection reuse, timeouts, clear errors); what it
    leaves to its users is retrying on a status, so that is here: 429, 502,
    503 and 504 are retried after ``Retry-After`` (or an exponential backoff
    with jitter), as are connection errors and timeouts.
    """

    def __init__(self, url: str, key: str | None = None, retries: int = 8, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.retries = retries
        headers = {"Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def post(self, path: str, payload: dict) -> tuple[int, dict]:
        """POST JSON; retry on 429/5xx-unavailable and connection errors; return (status, body)."""
        data = json.dumps(payload).encode("utf-8")
        for attempt in range(self.retries + 1):
            try:
                response = self._http.post(path, content=data, headers={"Content-Type": "application/json"})
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise ClientError(f"cannot reach {self.url}: {exc}") from None
                wait = _retry_after(None, attempt)
            else:
                if response.status_code not in RETRY_STATUSES or attempt == self.retries:
                    return response.status_code, _json_or_text(response.content)
                wait = _retry_after(response.headers.get("Retry-After"), attempt)
            time.sleep(wait)
        raise AssertionError("unreachable")


def _json_or_text(data: bytes) -> dict:
    try:
        return json.loads(data)
    except ValueError:
        return {"detail": data.decode("utf-8", "replace")}


def _retry_after(header: str | None, attempt: int) -> float:
    if header and header.isdigit():
        return float(header)
    return min(30.0, 0.5 * 2 ** attempt) * (0.5 + random.random() / 2)


# -- classify -------------------------------------------------------------

def render_table(result: dict) -> str:
    """Render one classification as a readable table."""
    chosen = {t["label"] for t in result["topics"]}
    width = max((len(label) for label in result["scores"]), default=5)
    lines = [f"model {result['model']['version']}",
             "topics: " + (", ".join(t["label"] for t in result["topics"]) or "(none)"), ""]
    for label, score in result["scores"].items():
        bar = "#" * round(score * 30)
        lines.append(f"{'*' if label in chosen else ' '} {label:<{width}}  {score:6.1%}  {bar}")
    for label, terms in result.get("explanation", {}).items():
        lines.append(f"\n{label}: " + ", ".join(f"{t['term']} ({t['weight']:.3f})" for t in terms))
    return "\n".join(lines)


def classify(args) -> int:
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    title = args.title
    if title is None and args.first_line_title:
        title, _, text = text.partition("\n")
    payload = {"text": text, "explain": args.explain}
    if title:
        payload["title"] = title
    for name in ("top_k", "threshold"):
        if getattr(args, name) is not None:
            payload[name] = getattr(args, name)
    with Client(args.url, args.key, args.retries) as client:
        status, body = client.post("/v1/classify", payload)
    if status != 200:
        print(f"error {status}: {body.get('detail', body)}", file=sys.stderr)
        return 1
    print(json.dumps(body, indent=2, ensure_ascii=False) if args.json else render_table(body))
    return 0


# -- batch ----------------------------------------------------------------

def completed_lines(out: Path) -> int:
    """Count whole lines in OUT, cutting off a trailing partial line left by an interruption.

    The file is read in blocks, so this works on outputs of any size.
    """
    if not out.exists():
        return 0
    with open(out, "r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        end = size
        while end > 0:  # find the last newline, reading backwards
            start = max(0, end - 65536)
            fh.seek(start)
            cut = fh.read(end - start).rfind(b"\n")
            if cut >= 0:
                end = start + cut + 1
                break
            end = start
        if end != size:
            fh.truncate(end)
        fh.seek(0)
        count = 0
        while block := fh.read(1 << 20):
            count += block.count(b"\n")
    return count


def read_articles(path: Path, skip: int) -> Iterator[tuple[int, dict | None, str | None]]:
    """Yield (line number, article or None, error or None), skipping the first ``skip`` lines."""
    with open(path, encoding="utf-8") if str(path) != "-" else sys.stdin as fh:
        for number, raw in enumerate(fh, start=1):
            if number <= skip:
                continue
            try:
                record = json.loads(raw)
            except ValueError as exc:
                yield number, None, f"invalid JSON: {exc}"
                continue
            if not isinstance(record, dict) or not isinstance(record.get("text"), str) or not record["text"].strip():
                yield number, None, "no non-empty 'text'"
                continue
            article = {"text": record["text"], "id": record.get("id", number)}
            if isinstance(record.get("title"), str):
                article["title"] = record["title"]
            yield number, article, None


def _send(client: Client, items: list[tuple[int, dict]], options: dict) -> list[dict]:
    """Classify items; drop ones the server rejects (writing an error for each) and resend the rest."""
    results: dict[int, dict] = {}
    pending = list(items)
    while pending:
        status, body = client.post("/v1/classify/batch", {"articles": [a for _, a in pending], **options})
        if status == 200:
            for (number, _), result in zip(pending, body["results"]):
                results[number] = {"line": number, **result}
            break
        match = FIELD_INDEX.match(str(body.get("field", ""))) if status == 422 else None
        if match is None:
            raise ClientError(f"the server answered {status}: {body.get('detail', body)}")
        number, article = pending.pop(int(match.group(1)))
        results[number] = {"line": number, "id": article.get("id"), "error": body.get("detail")}
    return [results[number] for number, _ in items]


def batch(args) -> int:
    out = Path(args.output)
    done = completed_lines(out)
    total = None
    if args.input != "-":
        with open(args.input, "rb") as fh:
            total = sum(1 for _ in fh)
    options = {k: v for k, v in (("top_k", args.top_k), ("threshold", args.threshold)) if v is not None}
    if done and not args.quiet:
        print(f"resuming after line {done}", file=sys.stderr)
    with Client(args.url, args.key, args.retries) as client, open(out, "a", encoding="utf-8") as sink, \
            tqdm(total=total, initial=done, unit=" lines", disable=args.quiet, file=sys.stderr) as bar:
        chunk: list[tuple[int, dict]] = []

        def flush() -> None:
            lines = _send(client, chunk, options) if chunk else []
            for line in lines:
                sink.write(json.dumps(line, ensure_ascii=False) + "\n")
            sink.flush()
            os.fsync(sink.fileno())
            chunk.clear()
            bar.update(len(lines))

        for number, article, error in read_articles(Path(args.input), done):
            if error is not None:
                flush()
                sink.write(json.dumps({"line": number, "error": error}) + "\n")
                bar.update(1)
                continue
            chunk.append((number, article))
            if len(chunk) >= args.batch_size:
                flush()
        flush()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run ``classify`` or ``batch``."""
    parser = argparse.ArgumentParser(prog="python -m client", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("TOPICS_URL", "http://127.0.0.1:8000"),
                        help="server address (env TOPICS_URL)")
    parser.add_argument("--key", default=os.environ.get("TOPICS_API_KEY"), help="API key (env TOPICS_API_KEY)")
    parser.add_argument("--retries", type=int, default=8, help="retries on 429/503 and connection errors")
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("classify", help="classify one article from a file or stdin")
    one.add_argument("file", help="a text file, or - for stdin")
    one.add_argument("--title", help="the headline")
    one.add_argument("--first-line-title", action="store_true", help="use the file's first line as headline")
    one.add_argument("--explain", action="store_true", help="show the words behind each topic")
    one.add_argument("--json", action="store_true", help="print the JSON response")
    many = sub.add_parser("batch", help="classify a JSON Lines file into another, resumably")
    many.add_argument("input", help="JSON Lines with text, optional title and id")
    many.add_argument("output", help="results, one JSON line per input line (appended to when resuming)")
    many.add_argument("--batch-size", type=int, default=100, help="articles per request")
    many.add_argument("--quiet", action="store_true", help="no progress bar")
    for sub_parser in (one, many):
        sub_parser.add_argument("--top-k", dest="top_k", type=int, help="keep the k best scores")
        sub_parser.add_argument("--threshold", type=float, help="one threshold for every label")
    args = parser.parse_args(argv)
    try:
        return classify(args) if args.command == "classify" else batch(args)
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
