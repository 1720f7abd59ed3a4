"""Search-space figures for the UCI-HAR-shaped space (128x9, 6 classes) at batch 64 on this CPU:
forward+backward time per batch (median) of the supernet under Gumbel-softmax weights and of the
largest DiscreteNet, their ratio, and the process's peak RSS. The two steps alternate, so a shared,
loaded machine slows both alike."""

import resource
import statistics
import time

import torch

from micronas.space import Architecture, DiscreteNet, SearchSpace, SuperNet

BATCH = 64
WARMUP = 2
REPEATS = 15


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def alternating_times_ms(steps) -> list[list[float]]:
    """Wall times (ms) of each step, run in turn `REPEATS` times after `WARMUP` rounds."""
    times = [[] for _ in steps]
    for repeat in range(WARMUP + REPEATS):
        for step, kept in zip(steps, times):
            start = time.perf_counter()
            step()
            if repeat >= WARMUP:
                kept.append(1000 * (time.perf_counter() - start))
    return times


def main() -> None:
    torch.manual_seed(0)
    space = SearchSpace(128, 9, 6)
    x = torch.randn(BATCH, 1, *space.input_shape)
    y = torch.randint(0, space.num_classes, (BATCH,))
    base_rss = peak_rss_mib()

    supernet = SuperNet(space).train()
    logits = {key: torch.zeros(shape, requires_grad=True) for key, shape in space.logit_shapes().items()}

    def supernet_step():
        supernet.zero_grad(set_to_none=True)
        weights = {key: torch.nn.functional.gumbel_softmax(value, tau=1.0) for key, value in logits.items()}
        torch.nn.functional.cross_entropy(supernet(x, weights), y).backward()

    largest = Architecture.largest(space)
    net = DiscreteNet(largest).train()

    def discrete_step():
        net.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x), y).backward()

    supernet_times, discrete_times = alternating_times_ms([supernet_step, discrete_step])
    supernet_ms, discrete_ms = statistics.median(supernet_times), statistics.median(discrete_times)
    ratios = [s / d for s, d in zip(supernet_times, discrete_times)]
    params = {
        name: sum(p.numel() for p in m.parameters()) for name, m in (("supernet", supernet), ("largest", net))
    }
    print(
        f"UCI-HAR space 128x9, batch {BATCH}, torch threads {torch.get_num_threads()}, "
        f"median of {REPEATS} after {WARMUP} warm-ups"
    )
    print(
        f"supernet (Gumbel-softmax weights, {params['supernet']} params): "
        f"forward+backward {supernet_ms:.1f} ms/batch"
    )
    print(
        f"largest DiscreteNet ({len(largest.ops())} ops, {params['largest']} params): "
        f"forward+backward {discrete_ms:.1f} ms/batch"
    )
    print(
        f"ratio supernet / largest discrete: {supernet_ms / discrete_ms:.2f} (ratio of medians), "
        f"{statistics.median(ratios):.2f} (median of per-round ratios)"
    )
    print(f"peak RSS: {base_rss:.0f} MiB after imports, {peak_rss_mib():.0f} MiB after both")


if __name__ == "__main__":
    main()
