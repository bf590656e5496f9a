"""Widgets and wiring. Handlers live in ui/handlers.py and ui/history.py; nothing here computes."""

from __future__ import annotations

import functools
import os
import secrets
from pathlib import Path

import gradio as gr

from jobs.record import APP_VERSION
from providers import CAPABILITIES
from ui import views
from ui.components import named_errors, tolerant_image
from ui.handlers import Studio

__all__ = ["CSS", "GENERATE_CONCURRENCY", "build_app", "default_provider"]

GENERATE_CONCURRENCY = 200  # generations are async waits on a provider, not CPU work
ALL_DURATIONS = sorted({d for caps in CAPABILITIES.values() for d in caps.durations_s})
DEFAULT_PROVIDER = "preview"

CSS = """
#status { min-height: 4em; }
.counter { font-size: 0.85em; opacity: 0.75; margin-top: -0.6em; }
/* Gradio sizes the grid to the item count; keep history thumbnails small whatever the count. */
#history .grid-container { grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)) !important; }
#history .thumbnail-item { aspect-ratio: 16 / 10; height: auto !important; }
"""

# Runs in the browser before the generate event is sent: a fresh request key per click, so a
# retried or duplicated event maps to the same job (ids are checked server-side per owner).
_NEW_REQUEST_KEY_JS = """(...args) => {
  const rand = (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
             : Math.random().toString(36).slice(2) + Date.now().toString(36);
  args[args.length - 1] = rand;
  return args;
}"""


def default_provider() -> str:
    """A hosted provider whose server key is configured, else the free offline preview."""
    for caps in CAPABILITIES.values():
        if caps.env_api_key and os.environ.get(caps.env_api_key):
            return caps.name
    return DEFAULT_PROVIDER


def _browser_state_secret(data_dir: Path) -> str:
    """Stable across restarts so owner tokens still decrypt. Public by design (gradio6.md §3.2)."""
    path = data_dir / "browser_state_secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24))
    return path.read_text().strip()


def build_app(studio: Studio, *, provider_name: str | None = None) -> gr.Blocks:
    default_provider_name = provider_name or (DEFAULT_PROVIDER if studio.policy.settings.public else default_provider())
    caps = CAPABILITIES[default_provider_name]
    with gr.Blocks(title="Wan I2V Studio", delete_cache=(3600, 3600)) as demo:
        owner_state = gr.BrowserState(
            None, storage_key="wan-i2v-owner", secret=_browser_state_secret(studio.engine.settings.data_dir)
        )
        owner_token = gr.Textbox(value="", visible=False, elem_id="owner_token")
        request_key = gr.Textbox(value="", visible=False, elem_id="request_key")
        gr.Markdown(
            f"# Wan I2V Studio <small>v{APP_VERSION}</small>\n"
            "Turn a still image (and optional voice or music) into a short video with Wan 2.5. "
            "Status is the provider's real state; the panel on the right records exactly what ran."
        )
        gr.Markdown(views.access_banner(studio.policy), elem_id="banner")
        if os.environ.get("OAUTH_CLIENT_ID"):  # a Space with `hf_oauth: true`: jobs follow the HF account
            gr.LoginButton(elem_id="login")
        with gr.Row():
            with gr.Column(scale=5):
                image = gr.Image(
                    label="Image",
                    type="filepath",
                    image_mode=None,
                    sources=["upload", "clipboard", "webcam"],
                    elem_id="image",
                    height=300,
                )
                tolerant_image(image)
                with gr.Row():
                    prepared_image = gr.Image(
                        label="Prepared for the provider",
                        interactive=False,
                        visible=False,
                        height=120,
                        elem_id="prepared_image",
                        buttons=[],
                        scale=1,
                    )
                    image_info = gr.Markdown("", elem_id="image_info")
                with gr.Accordion("Use an image URL instead", open=False):
                    image_url = gr.Textbox(
                        label="Image URL (http/https)",
                        value="",
                        placeholder="https://…",
                        elem_id="image_url",
                        max_lines=1,
                    )
                prompt = gr.Textbox(
                    label="Prompt",
                    lines=3,
                    placeholder="What should move, and how? e.g. “slow zoom in, hair moving in the wind”",
                    elem_id="prompt",
                )
                prompt_count = gr.Markdown("0 / 800 characters", elem_classes="counter", elem_id="prompt_count")
                negative_prompt = gr.Textbox(label="Negative prompt", value="", lines=1, elem_id="negative_prompt")
                negative_count = gr.Markdown("0 / 500 characters", elem_classes="counter")
                with gr.Row():
                    audio = gr.Audio(
                        label="Audio (optional): voice for lip-sync, or music",
                        type="filepath",
                        sources=["upload", "microphone"],
                        editable=False,
                        elem_id="audio",
                    )
                    audio_start = gr.Number(
                        label="Audio start (s)",
                        value=0,
                        minimum=0,
                        precision=2,
                        elem_id="audio_start",
                        info="The part from here on lands in the video; it is cut to the video's length.",
                    )
                audio_info = gr.Markdown("", elem_id="audio_info")
                with gr.Group():
                    with gr.Row():
                        provider = gr.Dropdown(
                            label="Provider",
                            choices=[(c.label, c.name) for c in CAPABILITIES.values()],
                            value=default_provider_name,
                            elem_id="provider",
                        )
                        resolution = gr.Dropdown(
                            label="Resolution",
                            choices=[r.value for r in caps.resolutions],
                            value=caps.default_resolution.value,
                            elem_id="resolution",
                        )
                        duration = gr.Dropdown(
                            label="Duration (s)",
                            choices=ALL_DURATIONS,
                            value=caps.default_duration_s,
                            elem_id="duration",
                        )
                        seed = gr.Number(
                            label="Seed (-1 = random)",
                            value=-1,
                            precision=0,
                            minimum=-1,
                            maximum=2_147_483_647,
                            elem_id="seed",
                        )
                    with gr.Row():
                        prompt_expansion = gr.Checkbox(
                            label="Prompt expansion (the provider may rewrite the prompt)",
                            value=bool(caps.prompt_expansion_default),
                            interactive=caps.prompt_expansion_default is not None,
                            elem_id="prompt_expansion",
                        )
                        safety_checker = gr.Checkbox(
                            label="Safety checker",
                            value=True,
                            interactive=caps.safety_checker_default is not None,
                            elem_id="safety_checker",
                        )
                provider_info = gr.Markdown(views.provider_notes(caps), elem_id="provider_info")
                api_key = gr.Textbox(
                    label="API key (this session only; never stored or shown)",
                    type="password",
                    value="",
                    visible=caps.needs_key,
                    elem_id="api_key",
                    html_attributes=gr.InputHTMLAttributes(autocomplete="off", spellcheck=False),
                )
                with gr.Row(visible=caps.needs_key) as key_row:
                    test_key = gr.Button("Test key", size="sm", elem_id="test_key", scale=0)
                    resume_key = gr.Button("Resume with my key", size="sm", elem_id="resume_key", scale=0)
                    key_status = gr.Markdown("", elem_id="key_status")
                with gr.Row():
                    generate = gr.Button("Generate", variant="primary", elem_id="generate", scale=2)
                    cancel = gr.Button("Cancel", variant="stop", elem_id="cancel", scale=1)
                price = gr.Markdown(
                    views.price_text(default_provider_name, caps.default_resolution.value, caps.default_duration_s),
                    elem_id="price",
                )
                with gr.Accordion("Load settings from a video or params.json", open=False):
                    load_file = gr.File(
                        label="An MP4 made by this app, or its params.json",
                        file_types=[".mp4", ".json"],
                        elem_id="load_settings",
                    )
                    reproduce_exactly = gr.Checkbox(
                        label="Reproduce exactly: use the provider's rewritten prompt, expansion off",
                        value=False,
                        elem_id="reproduce_exactly",
                    )
                    load_note = gr.Markdown("", elem_id="load_note")
                with gr.Accordion("Recover a job by its provider id", open=False):
                    with gr.Row():
                        recover_provider = gr.Dropdown(
                            label="Provider",
                            choices=[c.name for c in CAPABILITIES.values() if not c.is_draft],
                            value="runpod",
                            elem_id="recover_provider",
                        )
                        recover_id = gr.Textbox(label="Provider job id", value="", elem_id="recover_id")
                    recover = gr.Button("Recover", elem_id="recover")
            with gr.Column(scale=5):
                status = gr.Markdown("Ready.", elem_id="status")
                video = gr.Video(label="Video", elem_id="video", buttons=["download"], interactive=False)
                params = gr.JSON(label="Reproducible parameters", elem_id="params", open=True)
                params_file = gr.File(label="params.json", elem_id="params_file", interactive=False)
        with gr.Accordion("Your jobs", open=True):
            history_note = gr.Markdown("", elem_id="history_note")
            history = gr.Gallery(
                label="History (only you see your jobs)",
                columns=8,
                height=240,
                object_fit="cover",
                allow_preview=False,
                elem_id="history",
            )
            history_ids = gr.State([])
            selected = gr.State(None)
            with gr.Row():
                refresh = gr.Button("Refresh", size="sm", elem_id="history_refresh")
                load_job = gr.Button("Load settings", size="sm", elem_id="history_load")
                rerun = gr.Button("Re-run (same seed)", size="sm", elem_id="history_rerun")
                delete = gr.Button("Delete", size="sm", variant="stop", elem_id="history_delete")
            with gr.Row(visible=False) as job_details:
                job_video = gr.File(label="Video", interactive=False, elem_id="history_video")
                job_params_file = gr.File(label="params.json", interactive=False, elem_id="history_params_file")
                job_params = gr.JSON(label="Job details", open=False, elem_id="history_params")

        for control, field in (
            (provider, "provider"),
            (resolution, "resolution"),
            (duration, "duration"),
            (seed, "seed"),
            (audio_start, "audio_start"),
        ):
            named_errors(control, field)
        form = [
            image,
            prompt,
            negative_prompt,
            audio,
            audio_start,
            provider,
            resolution,
            duration,
            seed,
            prompt_expansion,
            safety_checker,
        ]
        generate_inputs = [
            image,
            prompt,
            negative_prompt,
            audio,
            provider,
            resolution,
            duration,
            seed,
            prompt_expansion,
            safety_checker,
            api_key,
            image_url,
            audio_start,
            owner_token,
            request_key,
        ]
        outputs = [status, video, params, params_file]
        history_outputs = [history, history_ids, history_note]
        private = {"api_visibility": "private"}

        # Who is this, and is a job of theirs running? (A reload or a new tab reattaches.)
        loaded = demo.load(studio.init_owner, owner_state, [owner_state, owner_token], queue=False, **private)
        loaded.then(studio.history_gallery, owner_token, history_outputs, **private)
        loaded.then(studio.reattach, owner_token, outputs, show_progress="hidden", **private)

        provider.input(
            studio.provider_changed,
            [provider, resolution, duration],
            [resolution, duration, prompt_expansion, safety_checker, api_key, provider_info, price],
            queue=False,
            **private,
        ).then(
            lambda p: (gr.update(visible=CAPABILITIES[p].needs_key), ""),
            provider,
            [key_row, key_status],
            queue=False,
            **private,
        )
        for control in (provider, resolution, duration):
            control.change(studio.price, [provider, resolution, duration], price, queue=False, **private)
        for box, counter, field in ((prompt, prompt_count, "prompt"), (negative_prompt, negative_count, "negative")):
            box.change(
                functools.partial(studio.char_count, field=field),
                [box, provider],
                counter,
                queue=False,
                show_progress="hidden",
                **private,
            )
        gr.on(
            [image.change, provider.change, resolution.change],
            studio.check_image,
            [image, provider, resolution],
            [prepared_image, image_info],
            queue=False,
            show_progress="hidden",
            **private,
        )
        gr.on(
            [audio.change, audio_start.change, provider.change, duration.change],
            studio.check_audio,
            [audio, audio_start, provider, duration],
            audio_info,
            queue=False,
            show_progress="hidden",
            **private,
        )

        def run_generation(trigger) -> gr.events.Dependency:
            event = trigger(
                studio.generate,
                generate_inputs,
                outputs,
                js=_NEW_REQUEST_KEY_JS,
                concurrency_limit=GENERATE_CONCURRENCY,
                show_progress="hidden",
                trigger_mode="once",
                **({"api_name": "generate"} if trigger == generate.click else private),
            )
            event.then(lambda: gr.update(interactive=True), None, generate, queue=False, **private).then(
                studio.history_gallery, owner_token, history_outputs, **private
            )
            return event

        generate.click(lambda: gr.update(interactive=False), None, generate, queue=False, **private)
        run_generation(generate.click)
        run_generation(rerun.click(studio.load_from_job, [selected, owner_token], [*form, load_note], **private).then)
        recover_event = recover.click(
            studio.recover,
            [recover_provider, recover_id, api_key, owner_token],
            outputs,
            api_name="recover",
            concurrency_limit=GENERATE_CONCURRENCY,
            show_progress="hidden",
        )
        recover_event.then(studio.history_gallery, owner_token, history_outputs, **private)
        # The Cancel button asks the engine to cancel this session's job; the job's own stream then
        # shows "Cancelled" (confirmed or not) and ends. One writer of #status, no race with a
        # synthetic completion. API callers cancel with job.cancel(), which reaches the same engine call.
        cancel.click(studio.cancel, None, None, concurrency_limit=None, **private)
        test_key.click(studio.test_key, [provider, api_key], key_status, concurrency_limit=None, **private)
        resume_key.click(studio.resume_with_key, [api_key, owner_token], key_status, **private).then(
            studio.history_gallery, owner_token, history_outputs, **private
        )
        load_file.upload(studio.load_from_file, [load_file, reproduce_exactly], [*form, load_note], **private)
        refresh.click(studio.history_gallery, owner_token, history_outputs, **private)
        history.select(
            studio.select_job, [history_ids, owner_token], [selected, job_params, job_video, job_params_file], **private
        ).then(lambda job: gr.update(visible=job is not None), selected, job_details, queue=False, **private)
        load_job.click(studio.load_from_job, [selected, owner_token], [*form, load_note], **private)
        delete.click(studio.delete_job, [selected, owner_token], history_note, **private).then(
            studio.history_gallery, owner_token, history_outputs, **private
        )
        gr.api(studio.history_api, api_name="history")
    return demo
