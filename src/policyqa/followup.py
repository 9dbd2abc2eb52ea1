def resolve(question, history=None):
    return question.strip()
