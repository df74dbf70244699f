-- A module next to the test hooks: require() finds it in the hook's folder.
return { answer = 42 }
