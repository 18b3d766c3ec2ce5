"""`icaht-cds`, the command line: it stands above every other package and may import them all.

    main.py     the parser and every command but `cohort`: serve, migrate, check-config,
                purge, report, rules, seed, demo, demo-token, demo-feedback
    cohort.py   the `cohort` subcommand (standard library only; its extras load when it runs)

`python -m icaht_cli` is `icaht-cds`.
"""
