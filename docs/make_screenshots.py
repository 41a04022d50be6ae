"""Screenshots of the demo's reviews and workshop for the docs (after `make demo`; needs Debian's chromium).

    .venv/bin/python docs/make_screenshots.py [--reports reports] [--config data/demo/alignment.toml]
        [--out docs/img]

Writes ``review-YYYY-MM-1920x1080.png`` (the first screen a VP sees) for a calm and a flagged demo month,
``index-1920x1080.png``, and ``workshop-1280x720.png`` / ``workshop-1920x1080.png`` (the workshop's first
screen, served by ``alignment workshop``'s server), and prints each page's height in screens.
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
WORKSHOP_SIZES = ((1280, 720), (1920, 1080))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=ROOT / "reports")
    parser.add_argument("--config", type=Path, default=ROOT / "data" / "demo" / "alignment.toml")
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
        workshop_screens(browser, args.config, args.out)
        browser.close()


def workshop_screens(browser, config: Path, out: Path) -> None:
    """The workshop's first screen at a projector's and a large screen's size."""
    from alignment.serve import WorkshopServer

    with WorkshopServer(config, startup_timeout=120) as server:
        for width, height in WORKSHOP_SIZES:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(server.url, timeout=180_000)
            page.wait_for_selector(".marketing-panel .mql-volume", timeout=180_000)
            page.wait_for_selector("img.tradeoff-figure", timeout=60_000)
            page.wait_for_timeout(500)
            name = f"workshop-{width}x{height}.png"
            page.screenshot(path=str(out / name))
            print(f"{name}: the first screen at {width}x{height}")
            page.goto("about:blank")
            page.close()


if __name__ == "__main__":
    main()
