"""Screenshots of the demo's reviews for the docs (run after `make demo`; needs Debian's chromium).

    .venv/bin/python docs/make_screenshots.py [--reports reports] [--out docs/img]

Writes ``review-YYYY-MM-1920x1080.png`` (the first screen a VP sees) for a calm and a flagged demo month, and
``index-1920x1080.png``, and prints each page's height in screens.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM_ARGS, chromium_path  # noqa: E402

MONTHS = ("2026-05", "2026-10")
VIEWPORT = {"width": 1920, "height": 1080}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=ROOT / "reports")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    pages = [(args.reports / month / "review.html", f"review-{month}-1920x1080.png") for month in MONTHS]
    pages.append((args.reports / "index.html", "index-1920x1080.png"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS,
                                             headless=True)
        for path, name in pages:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(path.resolve().as_uri())
            page.wait_for_load_state("load")
            height = page.evaluate("document.documentElement.scrollHeight")
            page.screenshot(path=str(args.out / name))
            print(f"{name}: page {height:,} px = {height / VIEWPORT['height']:.1f} screens at 1920x1080")
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
