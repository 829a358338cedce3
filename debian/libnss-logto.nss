# After every other source (so "files" always comes first: a local account is never shadowed);
# added on the first installation only and taken out again on removal (dh_installnss(1)).
passwd last logto
group last logto
