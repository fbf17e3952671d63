"""The figures: one module per figure, named as the figure (rules/figures.smk registers them),
each with `draw(...)` (pure: pandas tables in, a matplotlib figure out) and `render(i, p, w)`
(what its rule's named inputs, params and wildcards give `draw`). Shared pieces: common (backend,
titles, heatmaps, saving), styles (seeds, methods, trajectories), confusion_panels."""
