"""/settings: a user's own defaults for /pose, shown and changed in one private message.

Two selects (size, default character) and a form (steps, guidance, negative prompt) change
them; each change is stored at once and the message shows the defaults as they now are.
bot/domain/pose_defaults.py says how they fill in what a request leaves out.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import discord

from bot.domain.characters import Character
from bot.domain.pose_defaults import (
    BUILT_IN_SIZE,
    PoseDefaults,
    check_defaults,
    may_pose,
)
from bot.domain.pose_request import (
    DEFAULT_GUIDANCE,
    DEFAULT_STEPS,
    MAX_GUIDANCE,
    MAX_PROMPT_LENGTH,
    MAX_STEPS,
    MIN_GUIDANCE,
    MIN_STEPS,
    SIZES,
    InvalidRequest,
)
from bot.ui import views
from bot.ui.i18n import tr
from bot.ui.names import SIZE_CHOICES
from bot.ui.replies import NO_MENTIONS

if TYPE_CHECKING:
    from bot.posebot import PoseBot

log = logging.getLogger(__name__)
T = TypeVar("T")

NOT_SET = "none"  # a select option's value for "the bot's own default"
MAX_SELECT_OPTIONS = 25  # Discord's limit


def _size_text(locale: discord.Locale, size: str) -> str:
    return tr(locale, SIZE_CHOICES[size])


class SettingsPanel(views.PrivatePanel):
    """The private /settings message's controls; only the user who asked may use them."""

    def __init__(
        self,
        bot: PoseBot,
        origin: discord.Interaction,
        defaults: PoseDefaults,
        characters: list[Character],
    ) -> None:
        super().__init__(origin)
        self.bot = bot
        self.defaults = defaults
        self.characters = characters
        self._build()

    # -- what the user sees ------------------------------------------------------------------

    def content(self) -> str:
        locale = self.origin.locale
        defaults = self.defaults

        def line(label: str, value: object | None, built_in: str) -> str:
            if value is None:
                return tr(
                    locale, "{label}: {value} (the bot's default)", label=label, value=built_in
                )
            return f"{label}: {value}"

        character = self._character_name(defaults.character_id)
        lines = [
            tr(locale, "**Your defaults for /pose**, used for every option you leave out:"),
            line(
                tr(locale, "Size"),
                _size_text(locale, defaults.size) if defaults.size else None,
                _size_text(locale, BUILT_IN_SIZE),
            ),
            line(tr(locale, "Steps"), defaults.steps, str(DEFAULT_STEPS)),
            line(
                tr(locale, "Guidance"),
                f"{defaults.guidance:g}" if defaults.guidance is not None else None,
                f"{DEFAULT_GUIDANCE:g}",
            ),
            line(tr(locale, "Negative prompt"), defaults.negative_prompt, tr(locale, "none")),
            line(tr(locale, "Character"), character, tr(locale, "none: give one to /pose")),
        ]
        return "\n".join(lines)

    def _character_name(self, character_id: int | None) -> str | None:
        if character_id is None:
            return None
        found = next((c for c in self.characters if c.id == character_id), None)
        return found.name if found is not None else tr(self.origin.locale, "(no longer yours)")

    def _build(self) -> None:
        self.clear_items()
        locale = self.origin.locale
        size = discord.ui.Select(
            custom_id="settings:size",
            placeholder=tr(locale, "Size"),
            options=[
                discord.SelectOption(
                    label=tr(
                        locale, "The bot's default ({size})", size=_size_text(locale, BUILT_IN_SIZE)
                    ),
                    value=NOT_SET,
                    default=self.defaults.size is None,
                ),
                *(
                    discord.SelectOption(
                        label=_size_text(locale, name),
                        value=name,
                        default=self.defaults.size == name,
                    )
                    for name in SIZES
                ),
            ],
            row=0,
        )
        size.callback = self._choose_size  # type: ignore[method-assign]
        self.add_item(size)
        shown = self.characters[: MAX_SELECT_OPTIONS - 1]
        character = discord.ui.Select(
            custom_id="settings:character",
            placeholder=tr(locale, "Default character"),
            options=[
                discord.SelectOption(
                    label=tr(locale, "No default character"),
                    value=NOT_SET,
                    default=self.defaults.character_id is None,
                ),
                *(
                    discord.SelectOption(
                        label=c.name,
                        value=str(c.id),
                        description=tr(locale, "shared in this server") if c.shared else None,
                        default=self.defaults.character_id == c.id,
                    )
                    for c in shown
                ),
            ],
            row=1,
        )
        character.callback = self._choose_character  # type: ignore[method-assign]
        self.add_item(character)
        numbers = discord.ui.Button(
            custom_id="settings:numbers",
            label=tr(locale, "Steps, guidance, negative prompt…"),
            style=discord.ButtonStyle.primary,
            row=2,
        )
        numbers.callback = self._open_form  # type: ignore[method-assign]
        self.add_item(numbers)
        reset = discord.ui.Button(
            custom_id="settings:reset",
            label=tr(locale, "Reset all"),
            style=discord.ButtonStyle.secondary,
            disabled=self.defaults.empty,
            row=2,
        )
        reset.callback = self._reset  # type: ignore[method-assign]
        self.add_item(reset)

    # -- changes -----------------------------------------------------------------------------

    async def _choose_size(self, interaction: discord.Interaction) -> None:
        [value] = (interaction.data or {}).get("values", [NOT_SET])  # type: ignore[misc]
        if value != NOT_SET and value not in SIZES:
            raise InvalidRequest(tr(interaction.locale, "That size is not offered."))
        size = None if value == NOT_SET else value
        await self.change(interaction, dataclasses.replace(self.defaults, size=size))

    async def _choose_character(self, interaction: discord.Interaction) -> None:
        [value] = (interaction.data or {}).get("values", [NOT_SET])  # type: ignore[misc]
        character_id = None
        if value != NOT_SET:
            found = await self.bot.characters.get(int(value)) if value.isdigit() else None
            if found is None or not may_pose(found, interaction.user.id, interaction.guild_id):
                raise InvalidRequest(
                    tr(interaction.locale, "That character is no longer one you can pose.")
                )
            character_id = found.id
        await self.change(
            interaction, dataclasses.replace(self.defaults, character_id=character_id)
        )

    async def _open_form(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(SettingsForm(self, interaction.locale))

    async def _reset(self, interaction: discord.Interaction) -> None:
        await self.change(interaction, PoseDefaults())

    async def change(self, interaction: discord.Interaction, defaults: PoseDefaults) -> None:
        """Store the new defaults and show them (answered at once: the store comes after)."""
        await interaction.response.defer()
        await self.bot.user_settings.save(interaction.user.id, defaults)
        self.defaults = defaults
        self.characters = await self.bot.characters.usable(
            interaction.user.id, interaction.guild_id
        )
        self._build()
        await interaction.edit_original_response(
            content=self.content(), view=self, allowed_mentions=NO_MENTIONS
        )


class SettingsForm(views.Modal):
    """Steps, guidance and the negative prompt; an empty field means the bot's default."""

    def __init__(self, panel: SettingsPanel, locale: discord.Locale) -> None:
        super().__init__(title=tr(locale, "Your defaults for /pose"), custom_id="settings:form")
        self.panel = panel
        defaults = panel.defaults
        self.steps: discord.ui.TextInput[SettingsForm] = discord.ui.TextInput(
            label=tr(
                locale,
                "Steps, {low}–{high} (empty: {default})",
                low=MIN_STEPS,
                high=MAX_STEPS,
                default=DEFAULT_STEPS,
            ),
            required=False,
            max_length=2,
            default=str(defaults.steps) if defaults.steps is not None else None,
            custom_id="steps",
        )
        self.guidance: discord.ui.TextInput[SettingsForm] = discord.ui.TextInput(
            label=tr(
                locale,
                "Guidance, {low:g}–{high:g} (empty: {default:g})",
                low=MIN_GUIDANCE,
                high=MAX_GUIDANCE,
                default=DEFAULT_GUIDANCE,
            ),
            required=False,
            max_length=5,
            default=f"{defaults.guidance:g}" if defaults.guidance is not None else None,
            custom_id="guidance",
        )
        self.negative: discord.ui.TextInput[SettingsForm] = discord.ui.TextInput(
            label=tr(locale, "Negative prompt: what to avoid"),
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=MAX_PROMPT_LENGTH,
            default=defaults.negative_prompt,
            custom_id="negative_prompt",
        )
        self.add_item(self.steps)
        self.add_item(self.guidance)
        self.add_item(self.negative)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        locale = interaction.locale
        steps = _number(
            self.steps.value,
            int,
            tr(
                locale,
                "Steps must be a whole number from {low} to {high}.",
                low=MIN_STEPS,
                high=MAX_STEPS,
            ),
        )
        guidance = _number(
            self.guidance.value,
            float,
            tr(
                locale,
                "Guidance must be a number from {low:g} to {high:g}.",
                low=MIN_GUIDANCE,
                high=MAX_GUIDANCE,
            ),
        )
        # Checked before the answer, so that a mistake is told privately and nothing changes.
        defaults = check_defaults(
            dataclasses.replace(
                self.panel.defaults,
                steps=steps,
                guidance=guidance,
                negative_prompt=self.negative.value or None,
            )
        )
        await self.panel.change(interaction, defaults)


def _number(text: str, kind: Callable[[str], T], refusal: str) -> T | None:
    """The number typed in a field, None for an empty one (the ranges are checked later)."""
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise InvalidRequest(refusal) from None
