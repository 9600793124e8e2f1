"""Golden checkpoints and their outputs, made with hepgan at commit 3c2e96f (before the domains layout)."""
import sys
from pathlib import Path
import numpy as np
sys.path.insert(0, ".")
from tests.helpers import small_config
from tests.test_event_pipeline import small_event_config, toy_zmumu
from hepgan.config import load_config
from hepgan.simulate import simulate_to_file
from hepgan.domains import train
from hepgan.generate import ShowerGenerator
from hepgan.generate import EventGenerator
from hepgan.io.events import write_events
import shutil, tempfile

out = Path("tests/data/golden")
tmp = Path(tempfile.mkdtemp())
ref = tmp / "ref.h5"
config = load_config("configs/calo.yaml", ["simulation.spectrum={kind: discrete, values_mev: [1024, 16384]}"])
simulate_to_file(config, ref, n=300, seed=7)
cfg = small_config(tmp, ref, max_steps=4, checkpoint_every=4, eval_every=0)
res = train(cfg, progress=False)
shutil.copyfile(res.checkpoint, out / "calo_checkpoint.pt")
gen = ShowerGenerator.from_checkpoint(out / "calo_checkpoint.pt", device="cpu")
assert gen.calibration is not None
energies = np.array([1024.0, 3000.0, 16384.0, 1024.0, 16384.0] * 4)
batch = gen.sample(energies, seed=5)
np.savez(out / "calo_expected.npz", incident_mev=energies, showers_mev=batch.showers_mev)

evf = tmp / "toy.h5"
write_events(evf, toy_zmumu(300))
ecfg = small_event_config(tmp, evf)
eres = train(ecfg, progress=False)
shutil.copyfile(eres.checkpoint, out / "events_checkpoint.pt")
egen = EventGenerator.from_checkpoint(out / "events_checkpoint.pt", device="cpu")
ev = egen.sample(40, seed=5)
np.savez(out / "events_expected.npz", **ev.arrays())
print(res.checkpoint, eres.checkpoint)
