"""The calibration workshop: both teams' proposals side by side, live, in ipywidgets.

``panels`` (each team's levers, key numbers and the reasons a number is red), ``figure`` (the trade-off
figure), ``signing`` (the values to be signed, differences resolved, one click one version) and ``screen``
(the whole page, :func:`build_workshop`).
"""

from alignment.wording import format_count, format_money, format_rate
from alignment.workshop.panels import TEAM_COLOURS, TEAMS
from alignment.workshop.screen import (
    Workshop,
    build_workshop,
    keep_kernel_errors_off_the_page,
    load_workshop,
    wait_for_the_page,
)

__all__ = ["TEAMS", "TEAM_COLOURS", "Workshop", "build_workshop", "format_count", "format_money",
           "format_rate", "keep_kernel_errors_off_the_page", "load_workshop", "wait_for_the_page"]
