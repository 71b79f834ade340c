"""A character's sheet posted once all its panels have ended: one labelled image composed from
them, a missing panel shown as such with a button to make it again (nothing else is paid again).

Which sheets are due is read from the database (bot/storage/sheet_store.py), so a sheet whose
panels ended across a restart is still posted.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.domain.errors import UserError
from bot.domain.sheets import KIND_NAMES, VIEWS
from bot.storage.sheet_store import Sheet
from bot.tasks import TaskGroup
from bot.ui import views
from bot.ui.i18n import mark, tr
from bot.ui.replies import NO_MENTIONS, send_private
from bot.ui.sheet_request import redo_panel
from bot.ui.sheet_story import file_in_story
from bot.ui.story_export import sheet_within
from bot.ui.story_pages import Panel

if TYPE_CHECKING:
    from bot.posebot import PoseBot

log = logging.getLogger(__name__)

# How often a process that runs jobs looks for sheets whose panels have all ended.
SHEET_POLL_SECONDS = 1.0


class SheetRedoButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"sheet:redo:(?P<sheet>[0-9]+):(?P<position>[0-9]+)",
):
    """Under a posted sheet: make one missing panel again (its requester only)."""

    def __init__(self, sheet_id: int, position: int, label: str = "") -> None:
        super().__init__(
            discord.ui.Button(
                label=label or str(position + 1),
                emoji="🎲",
                style=discord.ButtonStyle.primary,
                custom_id=f"sheet:redo:{sheet_id}:{position}",
            )
        )
        self.sheet_id = sheet_id
        self.position = position

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> SheetRedoButton:
        return cls(int(match["sheet"]), int(match["position"]))

    @views.answer_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        bot: PoseBot = interaction.client  # type: ignore[assignment]
        sheet = await bot.sheets.get(self.sheet_id)
        if sheet is None:
            raise UserError(mark("This sheet is no longer stored."))
        if sheet.requester_id != interaction.user.id:
            raise UserError(mark("Only the person who asked for this sheet can redo its panels."))
        await interaction.response.defer(ephemeral=True, thinking=True)
        await send_private(interaction, await redo_panel(bot, interaction, sheet, self.position))


class SheetPoster:
    """Posts every sheet that is due, in a process that runs jobs."""

    def __init__(self, bot: PoseBot) -> None:
        self.bot = bot
        self._tasks = TaskGroup()

    def start(self) -> None:
        self._tasks.supervise(self._post_forever, "sheet-poster")

    async def close(self) -> None:
        await self._tasks.close()

    async def _post_forever(self) -> None:
        while True:
            await self.post_due()
            await asyncio.sleep(SHEET_POLL_SECONDS)

    async def post_due(self) -> None:
        for sheet in await self.bot.sheets.due():
            try:
                await self.post(sheet)
            except (discord.HTTPException, OSError) as error:
                log.warning("could not post sheet %s yet: %s", sheet.id, error)
                await self.bot.sheets.release_posting(sheet.id)

    async def post(self, sheet: Sheet) -> None:
        bot = self.bot
        through = await bot.sheets.newest_job(sheet.id)
        if not await bot.sheets.claim_posting(sheet.id, through, bot.clock()):
            return  # posted already, or another process is posting it
        found = await bot.sheets.panels(sheet.id)
        stored = {panel.position: panel for panel in found}
        # The panels also form a story (named after the character and the kind), so that the
        # sheet can be exported and arranged with /story; a story that cannot be made (the
        # requester keeps the most stories) leaves the sheet as it is.
        await file_in_story(bot, sheet, found)
        locale = sheet.guild_locale
        views_of_kind = VIEWS[sheet.kind]
        panels = [
            Panel(
                stored[position].image if position in stored else None,
                tr(locale, view.label),
            )
            for position, view in enumerate(views_of_kind)
        ]
        title = f"{sheet.character_name} · {tr(locale, KIND_NAMES[sheet.kind])}"
        drawn, _ = await sheet_within(
            bot.memory, title, panels, limit=sheet.upload_limit, stem=sheet.character_name
        )
        missing = [position for position, panel in enumerate(panels) if panel.image is None]
        view = discord.ui.View(timeout=None)
        for position in missing:
            label = tr(locale, "Redo {label}", label=panels[position].caption)
            view.add_item(SheetRedoButton(sheet.id, position, label[:80]))
        text = tr(
            locale,
            "<@{user}>, the {kind} sheet of {name} is ready.",
            user=sheet.requester_id,
            kind=tr(locale, KIND_NAMES[sheet.kind]),
            name=sheet.character_name,
        )
        if missing:
            text += "\n" + tr(
                locale,
                "Missing panels: {count}. Redo one with its button below "
                "(only that panel is charged again).",
                count=len(missing),
            )
        file = discord.File(io.BytesIO(drawn.data), filename=drawn.filename)
        nonce = f"sheet-{sheet.id}-{through % 100_000}"
        extra: dict[str, Any] = {"view": view} if missing else {}
        if sheet.private:
            dm = await bot.create_dm(discord.Object(id=sheet.requester_id))
            message = await dm.send(
                text, file=file, allowed_mentions=NO_MENTIONS, nonce=nonce, **extra
            )
        else:
            channel = bot.get_partial_messageable(sheet.channel_id, guild_id=sheet.guild_id)
            message = await channel.send(
                text,
                file=file,
                allowed_mentions=discord.AllowedMentions(
                    everyone=False, roles=False, users=[discord.Object(id=sheet.requester_id)]
                ),
                nonce=nonce,
                **extra,
            )
        await bot.sheets.mark_posted(sheet.id, through, message.id)
        log.info("sheet %s posted as message %s", sheet.id, message.id)
