"""Word-embedding bias (Bolukbasi et al. 2016; Caliskan et al. 2017; Gonen & Goldberg 2019).

io        - the immutable :class:`Embedding` and strict file parsers
sources   - named embeddings (offline assets, online gensim-data files, user files)
wordlists - Bolukbasi's word lists, WEAT sets, benchmark files
bias      - bias direction/subspace, projections, direct and indirect bias, analogies
debias    - hard debiasing (neutralize + equalize), returning a new embedding
evaluate  - similarity/analogy benchmarks, WEAT, the Gonen & Goldberg clustering test
"""
