"""``gankit explore``: watch GAN and WGAN train live in the browser, with gankit's own loop and metrics.

* :mod:`~gankit.explore.run`: one live run (a Trainer stepped by hand) and its views;
* :mod:`~gankit.explore.views`: what the views of runs on the same data share (1-D or 2-D points);
* :mod:`~gankit.explore.protocol`: the messages the page may send, validated;
* :mod:`~gankit.explore.session`: one page's runs, trained in a worker thread, kept for a reloaded page;
* :mod:`~gankit.explore.lanes`: compared runs stepped at once, a thread per run;
* :mod:`~gankit.explore.server`: the local web app (token, Origin and Host checks, a WebSocket per page).
"""
