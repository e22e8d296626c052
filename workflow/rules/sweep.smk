rule sweep:
    """Threshold sensitivity: specialization and dead-neuron thresholds over every evaluation file."""
    input:
        evals=eval_files(),
        code=SRC_METRICS,
    output:
        f"{RES}/sweeps/thresholds.csv",
    log:
        f"{LOGS}/sweep.log",
    conda:
        ENV
    params:
        cfg=as_json(config["sweep"]),
    shell:
        "python -m vaesae.cli.sweep --evals {input.evals} --params {params.cfg:q} --out {output} > {log} 2>&1"
