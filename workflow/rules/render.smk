rule tables:
    """Tables 1-7 of the paper (CSV and Markdown)."""
    input:
        evals=eval_files(),
        globals=global_files(),
        histories=history_files(),
        sweep=f"{RES}/sweeps/thresholds.csv",
        benchmarks=benchmark_files(),
        code=SRC_TABLES,
    output:
        [
            report(f, caption="../report/tables.rst", category="Tables")
            for f in table_files()
        ],
    log:
        f"{LOGS}/render/tables.log",
    conda:
        ENV
    params:
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        "python -m vaesae.cli.render tables --evals {input.evals} --globals {input.globals} --histories {input.histories} "
        "--sweep {input.sweep} --benchmarks {input.benchmarks} --outdir {params.outdir} > {log} 2>&1"


rule figures:
    """Figures 1-11 of the paper (PNG and PDF)."""
    input:
        evals=eval_files(),
        globals=global_files(),
        histories=history_files(),
        sweep=f"{RES}/sweeps/thresholds.csv",
        code=SRC_FIGURES,
    output:
        [
            report(f, caption="../report/figures.rst", category="Figures")
            for f in figure_files("png")
        ],
        figure_files("pdf"),
    log:
        f"{LOGS}/render/figures.log",
    conda:
        ENV
    params:
        cfg=as_json(
            {
                "datasets": DATASETS,
                "dead_threshold": config["eval"]["dead_threshold"],
                "specialization_threshold": config["eval"]["specialization_threshold"],
            }
        ),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        "python -m vaesae.cli.render figures --evals {input.evals} --globals {input.globals} --histories {input.histories} "
        "--sweep {input.sweep} --params {params.cfg:q} --outdir {params.outdir} > {log} 2>&1"


rule claims:
    """Verdict on each of the paper's claims C1-C8."""
    input:
        evals=eval_files(),
        globals=global_files(),
        histories=history_files(),
        sweep=f"{RES}/sweeps/thresholds.csv",
        code=SRC_CLAIMS,
    output:
        md=report(f"{RES}/claims.md", caption="../report/claims.rst", category="Claims"),
        csv=f"{RES}/claims.csv",
    log:
        f"{LOGS}/render/claims.log",
    conda:
        ENV
    params:
        cfg=as_json(config["claims"]),
    shell:
        "python -m vaesae.cli.render claims --evals {input.evals} --globals {input.globals} --histories {input.histories} "
        "--sweep {input.sweep} --params {params.cfg:q} --out-md {output.md} --out-csv {output.csv} > {log} 2>&1"


rule dataset_preview:
    """A grid of samples and one row per factor sweep of each dataset, to compare with the real images."""
    input:
        data=DATA_FILE,
        code=SRC_PREVIEW,
    output:
        png=report(
            f"{RES}/figures/dataset_{{dataset}}.png",
            caption="../report/dataset_preview.rst",
            category="Datasets",
        ),
        pdf=f"{RES}/figures/dataset_{{dataset}}.pdf",
    log:
        f"{LOGS}/render/dataset_{{dataset}}.log",
    conda:
        ENV
    shell:
        "python -m vaesae.cli.preview --dataset {input.data} --out {output.png} > {log} 2>&1"
