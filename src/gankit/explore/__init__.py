"""``gankit explore``: watch GAN and WGAN train live in the browser, with gankit's own loop and metrics.

* :mod:`~gankit.explore.run`: one live run (a Trainer stepped by hand) and its views;
* :mod:`~gankit.explore.protocol`: the messages the page may send, validated;
* :mod:`~gankit.explore.session`: one page's runs, trained in a worker thread;
* :mod:`~gankit.explore.server`: the local web app (token, Origin and Host checks, one WebSocket per page).
"""
