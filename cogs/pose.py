"""The ways to ask for a pose: `/pose`, and "Pose this character" on any message's image.

Commands only: each request is handed to the bot's `Intake` (bot/ui/intake.py), and its card
is shown by bot/ui/discord_presenter.py.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.domain.characters import Character
from bot.domain.pose_defaults import NO_DEFAULTS, may_pose, resolve_options
from bot.domain.pose_request import (
    MAX_GUIDANCE,
    MAX_PROMPT_LENGTH,
    MAX_SEED,
    MAX_STEPS,
    MIN_GUIDANCE,
    MIN_STEPS,
    InvalidRequest,
)
from bot.ui.character_choice import character_named, character_names
from bot.ui.i18n import locale_of, mark, named, tr
from bot.ui.intake import (
    PoseThisModal,
    Request,
    described,
    looks_like_image,
    saved_image,
)
from bot.ui.names import SIZE_CHOICES
from bot.ui.preset_choices import (
    CAMERA_DESCRIPTION,
    CAMERA_OPTIONS,
    EXPRESSION_DESCRIPTION,
    EXPRESSION_OPTIONS,
)
from bot.ui.replies import send_private, user_text

if TYPE_CHECKING:
    from bot.posebot import PoseBot

log = logging.getLogger(__name__)

SIZE_OPTIONS = [
    app_commands.Choice(name=locale_str(label), value=size) for size, label in SIZE_CHOICES.items()
]
T = TypeVar("T")


def in_a_server(interaction: discord.Interaction) -> bool:
    """A request from a direct message is refused (the tree says why) before anything is
    taken: Discord no longer offers the commands there, but a client may still send one."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    return True


def servers_only(callback: T) -> T:
    """A way to ask for a pose: offered in the servers that added the bot, and nowhere else
    (not in direct messages, group chats, or as an app installed to a user)."""
    callback = app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)(
        callback
    )
    callback = app_commands.allowed_installs(guilds=True, users=False)(callback)
    return app_commands.check(in_a_server)(callback)


class PoseCog(commands.Cog):
    def __init__(self, bot: PoseBot) -> None:
        self.bot = bot
        # Context menus cannot be methods of a cog; this one is added to the tree by hand.
        self._pose_this = app_commands.ContextMenu(
            name=locale_str("Pose this character"), callback=self.pose_this_character
        )

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self._pose_this)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self._pose_this.name, type=self._pose_this.type)

    @app_commands.command(
        name=named("command", "pose"),
        description=locale_str(
            "Pose your character: attach its image (or pick a saved one) and describe the pose."
        ),
    )
    @servers_only
    @app_commands.describe(
        prompt=locale_str("The character and the pose, in words"),
        character=locale_str("An image of your character (or use saved)"),
        saved=locale_str("A character from your library (or attach one as character)"),
        pose=locale_str("A reference image of the pose (optional)"),
        negative_prompt=locale_str("What to avoid in the image (default: yours from /settings)"),
        steps=locale_str("Sampling steps, 1–70 (default: yours from /settings, else 10)"),
        guidance=locale_str("How closely to follow the prompt, 1–15 (default: yours, else 3)"),
        size=locale_str("Image size (default: yours from /settings, else square)"),
        seed=locale_str("Seed for a reproducible result (random when left out)"),
        expression=EXPRESSION_DESCRIPTION,
        camera=CAMERA_DESCRIPTION,
    )
    @app_commands.choices(size=SIZE_OPTIONS, expression=EXPRESSION_OPTIONS, camera=CAMERA_OPTIONS)
    @app_commands.autocomplete(saved=character_names)
    @app_commands.rename(
        prompt=named("command", "prompt"),
        character=named("command", "character"),
        saved=named("command", "saved"),
        pose=named("command", "pose"),
        negative_prompt=named("command", "negative_prompt"),
        steps=named("command", "steps"),
        guidance=named("command", "guidance"),
        size=named("command", "size"),
        seed=named("command", "seed"),
        expression=named("command", "expression"),
        camera=named("command", "camera"),
    )
    async def pose(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, MAX_PROMPT_LENGTH],
        character: discord.Attachment | None = None,
        saved: str | None = None,
        pose: discord.Attachment | None = None,
        negative_prompt: app_commands.Range[str, 1, MAX_PROMPT_LENGTH] | None = None,
        steps: app_commands.Range[int, MIN_STEPS, MAX_STEPS] | None = None,
        guidance: app_commands.Range[float, MIN_GUIDANCE, MAX_GUIDANCE] | None = None,
        size: app_commands.Choice[str] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        expression: app_commands.Choice[str] | None = None,
        camera: app_commands.Choice[str] | None = None,
    ) -> None:
        intake = self.bot.intake
        locale = locale_of(interaction)
        if character is not None and saved is not None:
            await send_private(
                interaction,
                tr(
                    locale,
                    "Give exactly one character: attach an image as `character`, "
                    "or pick one of your saved characters with `saved`.",
                ),
            )
            return
        options_with = partial(
            resolve_options,
            prompt=prompt,
            negative_prompt=negative_prompt,
            seed=seed,
            steps=steps,
            guidance=guidance,
            size=size.value if size else None,
            expression=expression.value if expression else None,
            camera=camera.value if camera else None,
        )
        try:
            # What the user typed is checked at once, before anything is read: the stored
            # defaults that may fill the rest were checked when they were stored.
            options_with(NO_DEFAULTS)
        except InvalidRequest as error:
            await send_private(interaction, user_text(locale, error))
            return

        async def request() -> Request:
            # Read after the deferral: the user's defaults and a saved character (with its
            # image) come from the database, which may take longer than Discord's 3 s.
            defaults = await intake.user_defaults(interaction.user.id)
            # What is left out comes from the user's /settings, then the built-in defaults.
            options = options_with(defaults)
            if character is not None:
                return Request(options, intake.attachments(character, pose))
            if saved is not None:
                found = await character_named(self.bot, interaction, saved)
            elif defaults.character_id is not None:
                found = await self._default_character(interaction, defaults.character_id)
            else:
                raise InvalidRequest(
                    mark(
                        "Give a character: attach an image as `character`, pick one of your "
                        "saved characters with `saved`, or choose a default character in "
                        "`/settings`."
                    )
                )
            return Request(
                described(options, found), saved_image(found, pose, intake), character_id=found.id
            )

        await intake.start_request(interaction, request)

    async def _default_character(
        self, interaction: discord.Interaction, character_id: int
    ) -> Character:
        """The user's default character (/settings); InvalidRequest, for them, if it is gone."""
        found = await self.bot.characters.get(character_id)
        if found is not None and may_pose(found, interaction.user.id, interaction.guild_id):
            return found
        raise InvalidRequest(
            mark(
                "Your default character from `/settings` is no longer one you can pose here. "
                "Attach an image as `character`, pick one with `saved`, or choose another "
                "default in `/settings`."
            )
        )

    @servers_only
    async def pose_this_character(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        """Pose the character in this message's image: asks for the pose in words."""
        locale = locale_of(interaction)
        attachment = next((a for a in message.attachments if looks_like_image(a)), None)
        if attachment is None:
            await send_private(
                interaction,
                tr(
                    locale,
                    "That message has no image. Use **Pose this character** on a message "
                    "with a picture of the character.",
                ),
            )
            return
        refusal = await self.bot.intake.refusal(interaction.user.id, locale)
        if refusal is not None:
            await send_private(interaction, refusal)
            return
        await interaction.response.send_modal(PoseThisModal(self.bot.intake, attachment, locale))


async def setup(bot: PoseBot) -> None:
    await bot.add_cog(PoseCog(bot))
