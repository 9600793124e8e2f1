rule simulate:
    """Reference showers (MeV) from hepgan's GFlash simulator with the run's hepgan config."""
    output:
        "results/{run}/reference.h5",
    log:
        "logs/{run}/simulate.log",
    params:
        config=run_value("config"),
        sets=set_args,
        n=run_value("n_reference"),
        seed=run_value("seed"),
    threads: resource("simulate", "threads")
    resources:
        mem_mb=resource("simulate", "mem_mb"),
        runtime=resource("simulate", "runtime"),
    shell:
        "OMP_NUM_THREADS={threads} hepgan simulate {params.config:q} {params.sets}"
        " -o {output:q} --n {params.n} --seed {params.seed} --no-progress > {log:q} 2>&1"
