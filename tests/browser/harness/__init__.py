"""The browser test harness: one place that starts Chromium
(`harness.chromium`), one that starts `drift serve` (`harness.drift`), and a
page server for another origin (`harness.pages`). Tests use them through the
fixtures in `conftest.py`."""
