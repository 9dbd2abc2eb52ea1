def figures_for(query, sentences):
    return ()
