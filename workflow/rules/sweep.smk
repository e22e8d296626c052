rule summarize:
    """The reporting thresholds (eval.dead_threshold, eval.specialization_threshold, eval.specialization_activations,
    eval.specialization_mi) applied to the raw measurements of every evaluation file and every training epoch; no
    training reruns.
    """
    input:
        evals=wf.eval_files(config),
        histories=wf.history_files(config),
        raw=wf.raw_history_files(config),
        code=code("summarize"),
    output:
        evaluations=PATHS.summary_evaluations,
        history=PATHS.summary_history,
    log:
        f"{LOGS}/summarize.log",
    conda:
        ENV
    resources:
        mem_mb=mem_mb("summarize"),
        runtime=runtime("summarize"),
    params:
        cfg=params("summarize"),
    shell:
        "python -m vaesae.cli.summarize --evals {input.evals} --histories {input.histories} --params {params.cfg:q} "
        "--out-evaluations {output.evaluations} --out-history {output.history} > {log} 2>&1"


rule sweep:
    """Threshold sensitivity: specialization and dead-neuron thresholds over every evaluation file, and per epoch
    over every training run's raw history."""
    input:
        evals=wf.eval_files(config),
        raw=wf.raw_history_files(config),
        code=code("sweep"),
    output:
        final=PATHS.sweep_file,
        epochs=PATHS.epoch_sweep_file,
    log:
        f"{LOGS}/sweep.log",
    conda:
        ENV
    resources:
        mem_mb=mem_mb("sweep"),
        runtime=runtime("sweep"),
    params:
        cfg=params("sweep"),
    shell:
        "python -m vaesae.cli.sweep --evals {input.evals} --raw {input.raw} --params {params.cfg:q} "
        "--out {output.final} --out-epochs {output.epochs} > {log} 2>&1"
