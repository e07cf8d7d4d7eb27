from selectbench.training.mods import run_mods
from selectbench.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    rec = run_mods(snakemake.input.pool, snakemake.input.scores[0], snakemake.input.embeddings[0],
                   snakemake.output.selection, snakemake.output.model, budget=p.budget, seed=p.seed,
                   params=p.method, base=p.base, reward=p.reward, reward_params=p.reward_params, device=p.device,
                   threads=snakemake.threads)
    log.info("MoDS: %d high quality, %d necessary, %d selected", rec["n_high_quality"], rec["n_necessary"],
             len(rec["ids"]))
