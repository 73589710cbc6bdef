"""The studio's look: the Gradio theme, the page's CSS and a <head> style, apart from the layout."""

from __future__ import annotations

import gradio as gr

# Local font stacks only: a Google-font theme would make every visitor's browser call out.
THEME = gr.themes.Soft(
    primary_hue="indigo", secondary_hue="violet", neutral_hue="slate", radius_size="lg",
    font=["Inter", "ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
)

CSS = """
.gradio-container { max-width: 1180px !important; width: 100% !important; margin: 0 auto !important; }
#studio { width: 100%; }
#hero { text-align: center; padding: 18px 0 4px; }
#hero h1 { font-size: 2.3rem; font-weight: 800; margin: 0;
  background: linear-gradient(90deg, #4f46e5, #9333ea); -webkit-background-clip: text;
  background-clip: text; color: transparent; }
#hero p { font-size: 1.05rem; opacity: .8; margin: 6px 0 0; }
#backend { text-align: center; font-size: .9rem; opacity: .85; margin-bottom: 6px; }
#backend p { display: inline-block; padding: 4px 14px; border-radius: 999px;
  background: var(--block-background-fill); border: 1px solid var(--border-color-primary); }
.status { font-size: .95rem; padding: 6px 2px; }
.status-idle { opacity: .65; }
.status-done { color: #15803d; font-weight: 600; }
.status-error { color: #b91c1c; }
.status-stopped { color: #a16207; }
#generate { font-size: 1.1rem; }
#model label { padding-left: 10px; padding-right: 10px; }
#about { font-size: .85rem; opacity: .7; margin-top: 8px; }
#captions { max-height: 260px; overflow-y: auto; }
.captions { width: 100%; border-collapse: collapse; font-size: .92rem; }
.captions td { padding: 3px 6px; vertical-align: top; border-bottom: 1px solid var(--border-color-primary); }
#board th { white-space: nowrap; }  /* a header breaks between words, never inside one */
#board th * { word-break: keep-all; overflow-wrap: normal; }
.cue-time { white-space: nowrap; opacity: .65; font-variant-numeric: tabular-nums; width: 1%; }
@media (max-width: 480px) {
  .stack-on-phone { flex-direction: column !important; }
  .stack-on-phone > * { min-width: 100% !important; }
  .tab-container button { padding: 0 4px !important; font-size: 12px !important; }
  #board table { font-size: 12px; }
  #hero h1 { font-size: 1.8rem; }
}
/* Audition (ui/tabs/audition.py): the catalog's headers break between words, never inside one
   (at 390 px the grid sized Grade and Target narrower than their words); the grid then widens those
   columns to fit, and the table scrolls sideways as before. */
#catalog-table th { white-space: nowrap; }
#catalog-table th * { word-break: keep-all; overflow-wrap: normal; }
"""
# A phone (390 px): rows marked stack-on-phone put their parts one under another (a Language
# dropdown stays whole); narrower page margins and tab labels (CSS above), so all five tabs fit in the tab
# bar instead of hiding behind "⋯" (Gradio moves whatever does not fit into an overflow menu). The
# page margin sits outside what `css` may style (Gradio scopes it to the content), hence a <style>.
# Also there, unscoped (Gradio's scoping of `css` did not reach them): a failed event's red "Error" pill,
# which covered our status line (the toast and the status line say what went wrong), and the "×" on
# files we hand out (class `handout`: ours to hand out, not the visitor's to remove).
HEAD = ("<style>@media (max-width: 480px) { .gradio-container .main.app { padding: 8px !important; } }\n"
        "[data-testid=status-tracker]:has(> .error) { display: none !important; }\n"
        ".handout .label-clear-button { display: none !important; }</style>")

# A rater's page (ui/tabs/rater.py) from the keyboard: A, B, T, X press the vote buttons (only when
# enabled: the server still decides), N the next pair, space pauses whichever clip plays, else plays
# the first clip of this pair not yet started (A, then B), else the last one used. Keys typed into
# the name field are left alone.
RATER_KEYS = """<script>
(() => {
  const keys = {a: "rate-a", b: "rate-b", t: "rate-tie", x: "rate-bad", n: "rate-next"};
  const players = ["rater-a", "rater-b"];
  let pair = null, started = new Set(), last = "rater-a";
  const control = (id, label) => document.querySelector(`#${id} button[aria-label="${label}"]`);
  const sync = () => {  // a new pair on screen: nothing of it played yet
    const now = document.getElementById("rater-progress")?.innerText;
    if (now !== pair) { pair = now; started = new Set(); last = "rater-a"; }
  };
  document.addEventListener("click", (event) => {
    const play = event.target.closest?.('button[aria-label="Play"]');
    const id = play && players.find((p) => play.closest(`#${p}`));
    if (id) { sync(); started.add(id); last = id; }
  }, true);
  document.addEventListener("keydown", (event) => {
    const view = document.getElementById("rater");
    if (!view || view.offsetParent === null || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest?.("input, textarea, select, [contenteditable=true]")) return;
    const key = event.key.toLowerCase();
    if (key === " ") {
      event.preventDefault();  // no page scroll, no click on a focused button
      sync();
      const playing = players.find((id) => control(id, "Pause"));
      if (playing) { control(playing, "Pause").click(); return; }
      control(players.find((id) => !started.has(id)) || last, "Play")?.click();
    } else if (keys[key] && !event.repeat) {
      const button = document.getElementById(keys[key]);
      if (button && !button.disabled) { event.preventDefault(); button.click(); }
    }
  });
})();
</script>"""
HEAD = HEAD + RATER_KEYS

