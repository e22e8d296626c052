REPORT_ARGS = "--evaluations {input.evaluations} --globals {input.globals} --history {input.history} --sweep {input.sweep}"


rule tables:
    """Tables 1-7 of the paper and Table 8, every stage-3 method (CSV and Markdown)."""
    input:
        **report_inputs(),
        benchmarks=wf.benchmark_files(config),
        code=code("tables"),
    output:
        [
            report(f, caption="../report/tables.rst", category="Tables")
            for f in wf.table_files(config)
        ],
    log:
        f"{LOGS}/render/tables.log",
    conda:
        ENV
    resources:
        mem_mb=mem_mb("tables"),
        runtime=runtime("tables"),
    params:
        cfg=params("tables"),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        f"python -m vaesae.cli.tables {REPORT_ARGS} --benchmarks {{input.benchmarks}} --params {{params.cfg:q}} "
        "--outdir {params.outdir} > {log} 2>&1"


rule figures:
    """Figures 1-11 of the paper and Figure 12, every stage-3 method (PNG and PDF)."""
    input:
        **report_inputs(),
        code=code("figures"),
    output:
        [
            report(f, caption="../report/figures.rst", category="Figures")
            for f in wf.figure_files(config, "png")
        ],
        wf.figure_files(config, "pdf"),
    log:
        f"{LOGS}/render/figures.log",
    conda:
        ENV
    threads: 2  # figures render in parallel processes (scaled down to --cores; --set-threads figures=N)
    resources:
        mem_mb=mem_mb("figures"),
        runtime=runtime("figures"),
    params:
        cfg=params("figures"),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        f"python -m vaesae.cli.figures {REPORT_ARGS} --params {{params.cfg:q}} --outdir {{params.outdir}} "
        "--threads {threads} > {log} 2>&1"


rule claims:
    """Verdict on each of the paper's claims C1-C8, and on C9 (beyond the paper) where a remedy ran."""
    input:
        **report_inputs(),
        pretrain=wf.pretrain_history_files(config),
        code=code("claims"),
    output:
        md=report(f"{RES}/claims.md", caption="../report/claims.rst", category="Claims"),
        csv=f"{RES}/claims.csv",
        gates=report(
            f"{RES}/gates.csv", caption="../report/gates.rst", category="Claims"
        ),
    log:
        f"{LOGS}/render/claims.log",
    conda:
        ENV
    resources:
        mem_mb=mem_mb("claims"),
        runtime=runtime("claims"),
    params:
        cfg=params("claims"),
    shell:
        f"python -m vaesae.cli.claims {REPORT_ARGS} --params {{params.cfg:q}} --out-md {{output.md}} "
        "--out-csv {output.csv} --out-gates {output.gates} --pretrain-history {input.pretrain} > {log} 2>&1"


rule dataset_preview:
    """A grid of samples and one row per factor sweep of each dataset, to compare with the real images."""
    input:
        data=DATA_FILE,
        code=code("dataset_preview"),
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
    resources:
        mem_mb=mem_mb("dataset_preview"),
        runtime=runtime("dataset_preview"),
    shell:
        "python -m vaesae.cli.preview --dataset {input.data} --out {output.png} > {log} 2>&1"
