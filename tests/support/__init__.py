"""What the tests share: fake servers, repo builders, sample results, paths."""
