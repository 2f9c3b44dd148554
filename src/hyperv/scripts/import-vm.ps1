# Imports a VM from exported configuration files (ImportSystemDefinition), points its disks at the
# restored files, renames it, validates and realizes it; destroys the planned VM on any failure.
# Every virtual-hard-disk slot of the planned VM must take a restored disk and every restored disk a
# slot, checked before ValidatePlannedSystem: a slot left alone keeps the exported path, which with
# BackupIntent is the production base VHDX. After RealizePlannedSystem the VM's disk paths must be
# exactly the restored files, else the new VM is destroyed. (nxmBackup's VMImporter.setVHDX removes the
# planned drives and adds the restored ones; changing HostResource per slot keeps controller and boot
# order, and the two checks give the same guarantee.)
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$in = ConvertFrom-HvsnapInput $InputJson

$vmms = Get-HvsnapService 'Msvm_VirtualSystemManagementService'
$root = [string]$in.directory
if (-not $root) { $root = [string](@(Get-CimInstance -Namespace $script:HvNs -ClassName Msvm_VirtualSystemManagementServiceSettingData)[0].DefaultExternalDataRoot) }
$dir = Join-Path $root ('hvsnap-import-' + [guid]::NewGuid().ToString())
$vmcx = $null
foreach ($f in @($in.files)) {
  $parts = ([string]$f.name).Split('/')
  if ($parts -contains '..' -or $parts -contains '' -or ([string]$f.name).Contains('\') -or ([string]$f.name).Contains(':')) {
    Stop-Hvsnap 'input_invalid' "configuration file name $($f.name) is not a plain relative path" @{ file = [string]$f.name }
  }
  $target = Join-Path $dir ($parts -join '\')
  New-Item -ItemType Directory -Force -Path (Split-Path -Parent $target) | Out-Null
  [IO.File]::WriteAllBytes($target, [Convert]::FromBase64String([string]$f.dataBase64))
  if ($target.EndsWith('.vmcx', [StringComparison]::OrdinalIgnoreCase)) { $vmcx = $target }
}
if (-not $vmcx) { Stop-Hvsnap 'input_invalid' 'the configuration holds no .vmcx file' @{ field = 'config' } }
$wait = [int]$in.waitMs
# no snapshots are imported: an empty SnapshotFolder, as nxmBackup's VMImporter passes (a folder
# that does not exist would be refused)
$call = Invoke-HvsnapMethod $vmms 'ImportSystemDefinition' @{ SystemDefinitionFile = $vmcx; SnapshotFolder = ''; GenerateNewSystemIdentifier = [bool]$in.newId } $wait 'Msvm_PlannedComputerSystem' 'Name'
if (-not $call.Ok) { ConvertTo-HvsnapJson ([ordered]@{ Result = $call.Result }); return }
$plannedName = $null
if ($null -ne $call.Out.ImportedSystem) { $plannedName = [string]$call.Out.ImportedSystem.Name }
if (-not $plannedName) { $plannedName = @($call.Result.Affected)[0] }
$planned = @(Get-CimInstance -Namespace $script:HvNs -ClassName Msvm_PlannedComputerSystem | Where-Object { $_.Name -eq $plannedName })[0]
$failed = $null
try {
  $pvssd = @(Get-CimAssociatedInstance -InputObject $planned -ResultClassName Msvm_VirtualSystemSettingData | Where-Object { $_.VirtualSystemType -eq 'Microsoft:Hyper-V:System:Planned' })[0]
  # a disk's InstanceID holds the VM id (which a new id changes): match on the rest, the slot
  $source = [string]$in.sourceVmId
  if (-not $source) { Stop-Hvsnap 'input_invalid' 'the id of the exported VM is unknown: its disks cannot be matched' @{ field = 'sourceVmId' } }
  $source = [regex]::Escape($source)
  $sasds = @(Get-CimAssociatedInstance -InputObject $pvssd -ResultClassName Msvm_StorageAllocationSettingData |
      Where-Object { $_.ResourceType -eq 31 -and $_.ResourceSubType -eq 'Microsoft:Hyper-V:Virtual Hard Disk' })
  $restored = @($in.diskPaths.PSObject.Properties)
  $pairs = @()
  $emptySlots = @()
  foreach ($sasd in $sasds) {
    $slot = ([string]$sasd.InstanceID) -ireplace [regex]::Escape([string]$planned.Name), '*'
    $hit = @($restored | Where-Object { (([string]$_.Name) -ireplace $source, '*') -eq $slot })
    if ($hit.Count -eq 1) { $pairs += , @($sasd, [string]$hit[0].Value) } else { $emptySlots += [string]$sasd.InstanceID }
  }
  $plannedSlots = @($sasds | ForEach-Object { ([string]$_.InstanceID) -ireplace [regex]::Escape([string]$planned.Name), '*' })
  $homeless = @()
  foreach ($p in $restored) {
    if ($plannedSlots -notcontains (([string]$p.Name) -ireplace $source, '*')) { $homeless += [string]$p.Name }
  }
  if ($emptySlots.Count -or $homeless.Count) {
    $slotsText = if ($emptySlots.Count) { $emptySlots -join ', ' } else { 'none' }
    $disksText = if ($homeless.Count) { $homeless -join ', ' } else { 'none' }
    Stop-Hvsnap 'input_invalid' "the planned VM's disk slots do not match the restored disks (slots without a disk: $slotsText; disks without a slot: $disksText)" @{ field = 'diskPaths' }
  }
  foreach ($pair in $pairs) {
    $sasd = $pair[0]
    $sasd.HostResource = @($pair[1])
    $c = Invoke-HvsnapMethod $vmms 'ModifyResourceSettings' @{ ResourceSettings = @(ConvertTo-HvsnapEmbedded $sasd) } $wait
    if (-not $c.Ok) { $failed = $c.Result; break }
  }
  if (-not $failed -and $in.name) {
    $pvssd.ElementName = [string]$in.name
    $c = Invoke-HvsnapMethod $vmms 'ModifySystemSettings' @{ SystemSettings = (ConvertTo-HvsnapEmbedded $pvssd) } $wait
    if (-not $c.Ok) { $failed = $c.Result }
  }
  if (-not $failed) {
    $c = Invoke-HvsnapMethod $vmms 'ValidatePlannedSystem' @{ PlannedSystem = $planned } $wait
    if (-not $c.Ok) { $failed = $c.Result }
  }
  if (-not $failed) {
    $c = Invoke-HvsnapMethod $vmms 'RealizePlannedSystem' @{ PlannedSystem = $planned } $wait 'Msvm_ComputerSystem' 'Name'
    if (-not $c.Ok) { $failed = $c.Result } else { $realized = [string]$planned.Name }
  }
} catch {
  [void](Invoke-CimMethod -InputObject $vmms -MethodName DestroySystem -Arguments @{ AffectedSystem = $planned })
  throw
}
if ($failed) {
  [void](Invoke-CimMethod -InputObject $vmms -MethodName DestroySystem -Arguments @{ AffectedSystem = $planned })
  ConvertTo-HvsnapJson ([ordered]@{ Result = $failed })
  return
}
$vm = Get-HvsnapVm $realized
$want = @($in.diskPaths.PSObject.Properties | ForEach-Object { ([string]$_.Value).ToLowerInvariant() } | Sort-Object)
$got = @(Get-HvsnapDisks (Get-HvsnapRealizedSettings $vm) | ForEach-Object { ([string]$_.Path).ToLowerInvariant() } | Sort-Object)
if (($want -join '|') -ne ($got -join '|')) {
  [void](Invoke-CimMethod -InputObject $vmms -MethodName DestroySystem -Arguments @{ AffectedSystem = $vm })
  Stop-Hvsnap 'input_invalid' "the realized VM's disks ($($got -join ', ')) are not exactly the restored files ($($want -join ', ')): it was removed" @{ field = 'diskPaths' }
}
ConvertTo-HvsnapJson ([ordered]@{ Result = $call.Result; Vm = (ConvertTo-HvsnapVm $vm (Get-HvsnapGroupMembership)) })
