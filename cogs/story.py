"""/story: stories made of results (new, list, rename, delete, show, export). Panels are added
with 📖 under a result; every answer is private but a public export."""

from __future__ import annotations

import io
import logging
from functools import partial
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.domain.characters import Character, check_words
from bot.domain.pose_defaults import NO_DEFAULTS, may_pose, resolve_options
from bot.domain.pose_request import MAX_PROMPT_LENGTH, MAX_SEED, InvalidRequest
from bot.domain.stories import Story, StoryError, check_name, may_add, may_change
from bot.ui import story_pages
from bot.ui.character_choice import character_named, character_names
from bot.ui.confirm import Confirm
from bot.ui.i18n import locale_of, mark, named, tr
from bot.ui.intake import Request, described, saved_image
from bot.ui.replies import NO_MENTIONS, send_private
from bot.ui.story_board import StoryBoard
from bot.ui.story_choice import story_named, story_names
from bot.ui.story_export import Format, messages_within

if TYPE_CHECKING:
    from bot.posebot import PoseBot

log = logging.getLogger(__name__)

ONE_CHARACTER = mark(
    "Give exactly one character: attach an image as `character`, "
    "or pick one of your saved characters with `saved`."
)
NOT_YOURS_TO_ADD = mark("Only the owner of “{name}” can add to it.")

LAYOUT_NAMES = {
    story_pages.Layout.GRID_2X2: locale_str("grid 2x2"),
    story_pages.Layout.GRID_3X2: locale_str("grid 3x2"),
    story_pages.Layout.STRIP: locale_str("strip"),
    story_pages.Layout.ONE_PER_PAGE: locale_str("one per page"),
}
FORMAT_NAMES = {
    Format.PNG: locale_str("PNG pages"),
    Format.PDF: locale_str("one PDF"),
    Format.ZIP: locale_str("ZIP of the panels"),
}
LAYOUTS = [app_commands.Choice(name=n, value=layout.value) for layout, n in LAYOUT_NAMES.items()]
FORMATS = [app_commands.Choice(name=n, value=kind.value) for kind, n in FORMAT_NAMES.items()]


def _check_may_change(story: Story, interaction: discord.Interaction, refusal: str) -> None:
    if not may_change(story, interaction.user.id, interaction.permissions.manage_guild):
        raise StoryError(refusal, name=story.name)


class StoryCog(commands.Cog):
    story = app_commands.Group(
        name=named("command", "story"),
        description=locale_str("Stories: your results in order, captioned, exported as pages"),
        guild_only=True,
    )

    def __init__(self, bot: PoseBot) -> None:
        self.bot = bot

    @story.command(
        name=named("command", "new"),
        description=locale_str("Start a story; 📖 under a result adds it as the next panel."),
    )
    @app_commands.describe(
        name=locale_str("What to call it: letters, digits and spaces, at most 32 characters"),
        shared=locale_str(
            "Let everyone in this server add panels (needs the Manage Server permission)"
        ),
    )
    @app_commands.rename(name=named("command", "name"), shared=named("command", "shared"))
    async def new(self, interaction: discord.Interaction, name: str, shared: bool = False) -> None:
        locale = locale_of(interaction)
        name = check_name(name)
        if shared and not interaction.permissions.manage_guild:
            raise StoryError(
                mark(
                    "Sharing a story with the server needs the Manage Server permission. "
                    "Start it without `shared` to keep it for yourself."
                )
            )
        if interaction.guild_id is not None:
            server = await self.bot.servers.get(interaction.guild_id)
            check_words(server.blocked_words, name)
        story = await self.bot.stories.create(
            owner_id=interaction.user.id,
            guild_id=interaction.guild_id,
            name=name,
            shared=shared,
            now=self.bot.clock(),
        )
        await send_private(
            interaction,
            tr(
                locale,
                "Started “{name}”. Press 📖 under a result to add it as the next panel; "
                "`/story show` arranges the panels, `/story export` makes pages of them.",
                name=story.name,
            ),
        )

    @story.command(
        name=named("command", "list"),
        description=locale_str("List your stories and those shared in this server."),
    )
    async def list_stories(self, interaction: discord.Interaction) -> None:
        locale = locale_of(interaction)
        user_id = interaction.user.id
        stories = await self.bot.stories.usable(user_id, interaction.guild_id)
        if not stories:
            await send_private(
                interaction,
                tr(locale, "You have no stories yet. Start one with `/story new name:…`."),
            )
            return
        current = await self.bot.stories.current(user_id, interaction.guild_id)
        lines = [tr(locale, "**Your stories** (📖 adds to the one marked ▶):")]
        for story in stories:
            mark_ = "▶" if current is not None and story.id == current.id else "•"
            line = tr(locale, "{name}: {count} panels", name=story.name, count=story.panels)
            if story.owner_id != user_id:
                line += " " + tr(locale, "(shared by <@{owner}>)", owner=story.owner_id)
            elif story.shared:
                line += " " + tr(locale, "(shared with the server)")
            lines.append(f"{mark_} {line}")
        await send_private(interaction, "\n".join(lines))

    @story.command(
        name=named("command", "rename"),
        description=locale_str("Rename one of your stories."),
    )
    @app_commands.describe(
        story=locale_str("The story to rename"), new_name=locale_str("Its new name")
    )
    @app_commands.autocomplete(story=story_names)
    @app_commands.rename(story=named("command", "story"), new_name=named("command", "new_name"))
    async def rename(self, interaction: discord.Interaction, story: str, new_name: str) -> None:
        found = await story_named(self.bot, interaction, story)
        _check_may_change(
            found,
            interaction,
            mark(
                "Only the owner of “{name}”, or someone with the Manage Server permission, "
                "can rename it."
            ),
        )
        if interaction.guild_id is not None:
            server = await self.bot.servers.get(interaction.guild_id)
            check_words(server.blocked_words, new_name)
        renamed = await self.bot.stories.rename(found, new_name)
        await send_private(
            interaction,
            tr(
                locale_of(interaction),
                "Renamed “{old}” to “{new}”.",
                old=found.name,
                new=renamed.name,
            ),
        )

    @story.command(
        name=named("command", "delete"),
        description=locale_str("Delete one of your stories (you are asked to confirm)."),
    )
    @app_commands.describe(story=locale_str("The story to delete"))
    @app_commands.autocomplete(story=story_names)
    @app_commands.rename(story=named("command", "story"))
    async def delete(self, interaction: discord.Interaction, story: str) -> None:
        found = await story_named(self.bot, interaction, story)
        _check_may_change(
            found,
            interaction,
            mark(
                "Only the owner of “{name}”, or someone with the Manage Server permission, "
                "can delete it."
            ),
        )
        locale = locale_of(interaction)
        name = found.name

        async def delete() -> str:
            if await self.bot.stories.delete(found.id):
                return tr(locale, "Deleted “{name}”.", name=name)
            return tr(locale, "“{name}” was deleted already.", name=name)

        view = Confirm(
            interaction,
            delete,
            working=tr(locale, "Deleting “{name}”…", name=name),
            cancelled=tr(locale, "Kept “{name}”.", name=name),
            expired=tr(locale, "No answer within a minute, so “{name}” was kept.", name=name),
        )
        await interaction.response.send_message(
            tr(
                locale,
                "Delete the story “{name}” and its {count} panels for good? The results "
                "themselves stay where they were posted.",
                name=name,
                count=found.panels,
            ),
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @story.command(
        name=named("command", "add"),
        description=locale_str("A new pose made straight into a story, as /pose makes one."),
    )
    @app_commands.describe(
        story=locale_str("The story the new panel goes into"),
        prompt=locale_str("The character and the pose, in words"),
        saved=locale_str("A character from your library (default: the story's last one)"),
        character=locale_str("An image of your character (or use saved)"),
        pose=locale_str("A reference image of the pose (optional)"),
        seed=locale_str("Seed for a reproducible result (random when left out)"),
    )
    @app_commands.autocomplete(story=story_names, saved=character_names)
    @app_commands.rename(
        story=named("command", "story"),
        prompt=named("command", "prompt"),
        saved=named("command", "saved"),
        character=named("command", "character"),
        pose=named("command", "pose"),
        seed=named("command", "seed"),
    )
    async def add(
        self,
        interaction: discord.Interaction,
        story: str,
        prompt: app_commands.Range[str, 1, MAX_PROMPT_LENGTH],
        saved: str | None = None,
        character: discord.Attachment | None = None,
        pose: discord.Attachment | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
    ) -> None:
        intake = self.bot.intake
        if character is not None and saved is not None:
            raise StoryError(ONE_CHARACTER)
        options_with = partial(resolve_options, prompt=prompt, seed=seed)
        options_with(NO_DEFAULTS)  # what the user typed is checked before anything is read

        async def request() -> Request:
            # After the deferral, as /pose's: the story, the defaults and the character come
            # from the database. The panel is held for this request as it is taken in.
            try:
                found = await story_named(self.bot, interaction, story)
                if not may_add(found, interaction.user.id, interaction.guild_id):
                    raise StoryError(NOT_YOURS_TO_ADD, name=found.name)
                defaults = await intake.user_defaults(interaction.user.id)
                options = options_with(defaults)
                if character is not None:
                    made = Request(options, intake.attachments(character, pose))
                else:
                    posed = await self._character(interaction, found, saved, defaults)
                    made = Request(
                        described(options, posed),
                        saved_image(posed, pose, intake),
                        character_id=posed.id,
                    )
                await self.bot.stories.reserve(
                    found, interaction.id, interaction.user.id, self.bot.clock()
                )
            except StoryError as error:
                # The intake answers a refused request as it answers /pose's.
                raise InvalidRequest(error.message, **error.values) from None
            return made

        await intake.start_request(interaction, request)

    async def _character(
        self, interaction: discord.Interaction, story: Story, saved: str | None, defaults: Any
    ) -> Character:
        """The character a /story add poses: the one given, else the story's last panel's,
        else the user's default; InvalidRequest, for them, if there is none."""
        if saved is not None:
            return await character_named(self.bot, interaction, saved)
        for character_id in (
            await self.bot.stories.last_character_id(story.id),
            defaults.character_id,
        ):
            if character_id is None:
                continue
            found = await self.bot.characters.get(character_id)
            if found is not None and may_pose(found, interaction.user.id, interaction.guild_id):
                return found
        raise InvalidRequest(
            mark(
                "Give a character: attach an image as `character` or pick one of your saved "
                "characters with `saved`. The story's last panel poses no saved character "
                "you can use."
            )
        )

    @story.command(
        name=named("command", "show"),
        description=locale_str("Show a story's panels, to move, caption or remove them."),
    )
    @app_commands.describe(story=locale_str("The story to show"))
    @app_commands.autocomplete(story=story_names)
    @app_commands.rename(story=named("command", "story"))
    async def show(self, interaction: discord.Interaction, story: str) -> None:
        found = await story_named(self.bot, interaction, story)
        await interaction.response.defer(ephemeral=True, thinking=True)
        board = StoryBoard(self.bot, interaction, found)
        page = await board.render()
        await interaction.followup.send(
            page["content"],
            embeds=page["embeds"],
            files=page["files"],
            view=board,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @story.command(
        name=named("command", "export"),
        description=locale_str("A story as pages (PNG or PDF) or its panels in a ZIP."),
    )
    @app_commands.describe(
        story=locale_str("The story to export"),
        layout=locale_str("How the panels are laid out on a page"),
        format=locale_str("PNG pages, one PDF, or the panels at full size in a ZIP"),
        public=locale_str("Post it in the channel (otherwise only you see it)"),
    )
    @app_commands.autocomplete(story=story_names)
    @app_commands.choices(layout=LAYOUTS, format=FORMATS)
    @app_commands.rename(
        story=named("command", "story"),
        layout=named("command", "layout"),
        format=named("command", "format"),
        public=named("command", "public"),
    )
    async def export(
        self,
        interaction: discord.Interaction,
        story: str,
        layout: app_commands.Choice[str],
        format: app_commands.Choice[str],
        public: bool = False,
    ) -> None:
        found = await story_named(self.bot, interaction, story)
        if await self.bot.stories.settle(self.bot.clock(), found.id):
            found = await story_named(self.bot, interaction, story)
        locale = locale_of(interaction)
        if found.panels == 0:
            raise StoryError(
                mark("“{name}” has no panels yet: press 📖 under a result to add it."),
                name=found.name,
            )
        await interaction.response.defer(ephemeral=not public, thinking=True)
        panels = []
        for panel in await self.bot.stories.panels(found.id):
            image = await self.bot.stories.image(panel.image_sha256)
            panels.append(
                story_pages.Panel(image.data if image is not None else None, panel.caption)
            )
        cut: set[int] = set()
        smaller: list[str] = []
        sent = 0
        async for part in messages_within(
            self.bot.memory,
            found.name,
            panels,
            story_pages.Layout(layout.value),
            Format(format.value),
            limit=interaction.filesize_limit,
            stem=found.name,
        ):
            cut.update(part.cut)
            smaller.extend(part.smaller)
            files = [discord.File(io.BytesIO(f.data), filename=f.filename) for f in part.files]
            content = None
            if sent == 0:
                content = tr(
                    locale,
                    "“{name}”: {count} panels, {layout}, {format}.",
                    name=found.name,
                    count=len(panels),
                    layout=layout.value,
                    format=format.value.upper(),
                )
            await interaction.followup.send(
                content, files=files, ephemeral=not public, allowed_mentions=NO_MENTIONS
            )
            sent += 1
        notes = []
        if cut:
            numbers = ", ".join(str(n) for n in sorted(cut) if n != story_pages.TITLE)
            if numbers:
                notes.append(
                    tr(
                        locale,
                        "The captions of panels {numbers} were too long to fit and were shortened.",
                        numbers=numbers,
                    )
                )
            if story_pages.TITLE in cut:
                notes.append(tr(locale, "The title was too long to fit and was shortened."))
        if smaller:
            notes.append(
                tr(
                    locale,
                    "To fit Discord's upload limit, these files were made smaller: {files}.",
                    files=", ".join(smaller),
                )
            )
        if notes:
            await interaction.followup.send(
                "\n".join(notes), ephemeral=True, allowed_mentions=NO_MENTIONS
            )


async def setup(bot: PoseBot) -> None:
    await bot.add_cog(StoryCog(bot))
