"""The shared model every stage uses: problems with their codes (`problems`), the frames' columns
(`schema`) and shapes (`frames`), fiscal periods (`periods`), the settings (`settings`), and the plumbing
below the stages: worker processes under limits (`sandbox`), files written whole (`files`), one run at a
time (`locks`). Imports nothing from the stages."""
