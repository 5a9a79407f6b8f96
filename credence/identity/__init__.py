"""Identity resolution: linking records that arrive without a valid ID to subjects.

Some sources know a person only by name, birth date and the region of an
address, or an organisation by its name and region. `keys` turns those
fields into comparable keys (pinyin for Chinese names, token order ignored),
`model` scores candidate pairs with Splink, `rules` applies the hard rules
after scoring (no link on the name alone, no ambiguous link), and the
service (credence.service.matches) keeps each link as a probabilistic match
that counts for nothing until an auditor confirms it. docs/identity.md.
"""
