"""``python -m batch_multi_plot_spectrogram``: the command line."""

from .cli import main

main()
