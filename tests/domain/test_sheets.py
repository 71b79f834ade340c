"""A sheet's panels and the English prompt each sends."""

from __future__ import annotations

from bot.domain.quotas import DailyQuotas, Spend, member_quota, room_for, server_quota
from bot.domain.sheets import FRAMING, Kind, panel_count, panel_interaction_id, panel_prompts


def test_every_panel_starts_with_the_look_and_ends_with_the_same_framing() -> None:
    look = "a girl with red hair and a green coat"
    prompts = panel_prompts(look, Kind.TURNAROUND)
    assert all(p.startswith(f"{look}, ") and p.endswith(FRAMING) for p in prompts)
    assert "side view" in prompts[2] and "back view" in prompts[3]
    assert [panel_count(kind) for kind in Kind] == [4, 6, 6]


def test_a_character_without_a_description_still_gets_the_panels_words() -> None:
    assert panel_prompts("", Kind.ACTIONS)[0] == f"walking, {FRAMING}"


def test_panel_ids_are_never_snowflakes_and_never_shared() -> None:
    ids = {panel_interaction_id(sheet, position) for sheet in (1, 2, 3) for position in range(6)}
    assert len(ids) == 18 and all(i < 0 for i in ids)


def test_a_sheet_fits_only_if_every_quota_has_room_for_all_its_panels() -> None:
    member = member_quota(Spend(4, 2.32, 100.0), limit=10)  # 6 left
    assert room_for(DailyQuotas(member), 6) is None
    tight = DailyQuotas(member, server_quota(Spend(45, 26.1, 100.0), cap=50))  # 5 left
    refusal = room_for(tight, 6)
    assert refusal is not None and refusal.values["left"] == 5
    assert refusal.values["quota"] == "This server's daily cap"
    assert room_for(tight, 5) is None
